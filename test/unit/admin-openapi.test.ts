import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import type { HttpDeps } from '../../src/http/context.js';
import { ADMIN_API_PREFIX } from '../../src/http/admin-api.js';
import { adminRoutes } from '../../src/http/admin-routes.js';
import { adminOpenApiPath } from '../../src/shared/paths.js';

const METHODS = ['get', 'put', 'post', 'delete', 'patch'];

/** "METHOD /path/{param}" of every operation the router answers (HEAD comes with GET). */
function routerOperations(): string[] {
  // the routes only read their dependencies when a request comes, so none are needed to list them
  const router = adminRoutes({ adminTokens: {}, accounts: {}, audit: {}, config: { keys: {} } } as unknown as HttpDeps);
  return router.stack.flatMap((layer) => {
    const path = String(layer.path).slice(ADMIN_API_PREFIX.length).replace(/:(\w+)/g, '{$1}');
    return layer.methods.filter((m) => METHODS.includes(m.toLowerCase())).map((m) => `${m} ${path}`);
  });
}

function documentOperations(document: { paths: Record<string, Record<string, unknown>> }): string[] {
  return Object.entries(document.paths).flatMap(([path, item]) => Object.keys(item).filter((k) => METHODS.includes(k)).map((m) => `${m.toUpperCase()} ${path}`));
}

describe('admin API OpenAPI document', () => {
  const document = JSON.parse(readFileSync(adminOpenApiPath, 'utf8'));

  it('is OpenAPI 3.1 with a bearer security scheme', () => {
    expect(document.openapi).to.match(/^3\.1\.\d+$/);
    expect(document.servers).to.deep.equal([{ url: ADMIN_API_PREFIX }]);
    expect(document.components.securitySchemes.adminToken).to.include({ type: 'http', scheme: 'bearer' });
  });

  it('documents every route the router has, and no other', () => {
    const routes = routerOperations();
    expect(routes).to.include('GET /accounts');
    expect([...routes].sort()).to.deep.equal([...documentOperations(document)].sort());
  });

  it('every operation has an id, its responses, and a scope (or is public)', () => {
    const ids = new Set<string>();
    for (const [path, item] of Object.entries(document.paths as Record<string, Record<string, { operationId: string; security: unknown[]; responses: Record<string, unknown> }>>)) {
      for (const [method, op] of Object.entries(item).filter(([k]) => METHODS.includes(k))) {
        expect(op.operationId, `${method} ${path}`).to.be.a('string');
        expect(ids.has(op.operationId), `duplicate ${op.operationId}`).to.equal(false);
        ids.add(op.operationId);
        if (path === '/openapi.json') continue;
        const scope = method === 'get' ? 'read' : 'write';
        expect(op.security, `${method} ${path}`).to.deep.equal([{ adminToken: [scope] }]);
        expect(op.responses, `${method} ${path}`).to.include.keys('401', '403');
      }
    }
  });

  it('every $ref points at something defined', () => {
    const refs = JSON.stringify(document).match(/"\$ref":"#\/components\/[^"]+"/g) ?? [];
    for (const ref of refs) {
      const [, , group, name] = JSON.parse(`{${ref}}`).$ref.split('/');
      expect(document.components[group], ref).to.have.property(name);
    }
  });
});
