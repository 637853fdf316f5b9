import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'sesame' },
      // defence in depth: whatever a caller passes by mistake, these never reach a log line
      redact: {
        paths: ['token', '*.token', 'code', '*.code', 'password', '*.client_secret', 'req.headers.cookie', 'req.headers.authorization'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
