export interface ClientRecord {
  readonly clientId: string;
  readonly name: string;
  readonly logoUri?: string;
  readonly redirectUris: readonly string[];
  readonly postLogoutRedirectUris: readonly string[];
  /** public clients (SPAs, native apps) have no secret and authenticate with PKCE alone */
  readonly isPublic: boolean;
  /** first-party clients skip the consent page */
  readonly firstParty: boolean;
  readonly enabled: boolean;
  readonly grantTypes: readonly string[];
  /** keyed hash of the client secret; the secret itself is shown once and never stored */
  readonly secretHash?: string;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface ClientStore {
  insert(record: ClientRecord): Promise<void>;
  findById(clientId: string): Promise<ClientRecord | undefined>;
  list(): Promise<ClientRecord[]>;
  /** replaces the stored record (same client id); false when there is no such client */
  update(record: ClientRecord): Promise<boolean>;
  remove(clientId: string): Promise<boolean>;
}
