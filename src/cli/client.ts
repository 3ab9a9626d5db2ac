// Sends an admin command to the server that holds the data directory.
import { request } from 'node:http';

export class RemoteCommandError extends Error {}

export function runRemote(socketPath: string, command: string, args: Record<string, unknown>): Promise<unknown> {
  const body = JSON.stringify({ command, args });
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        path: '/admin/run',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          let parsed: { result?: unknown; error?: string };
          try {
            parsed = JSON.parse(text) as typeof parsed;
          } catch {
            return reject(
              new RemoteCommandError(`the running server answered ${res.statusCode} with an unreadable body`),
            );
          }
          if (res.statusCode === 200) resolve(parsed.result);
          else reject(new RemoteCommandError(parsed.error ?? `the running server answered ${res.statusCode}`));
        });
      },
    );
    req.on('error', (err) =>
      reject(
        new RemoteCommandError(
          `the data directory is held by a running server, but its admin socket ${socketPath} did not answer: ${err.message}`,
        ),
      ),
    );
    req.end(body);
  });
}
