/**
 * The embedded MQTT broker (aedes, MQTT 3.1.1) that lets the kit work alone: started on
 * 127.0.0.1 when `run` is given no `--broker`.
 */
import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';

/** A running embedded broker. */
export interface EmbeddedBroker {
  /** `mqtt://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Stops accepting clients and closes the broker. */
  close(): Promise<void>;
}

/** The port is taken: the message says so and what to do. */
export class BrokerPortError extends Error {
  constructor(host: string, port: number, options?: { cause?: unknown }) {
    super(`cannot start the embedded MQTT broker: ${host}:${port} is already in use (another broker, e.g. Mosquitto?). `
      + `Use it with --broker mqtt://${host}:${port}, or pick a free port with --embedded-port <n>.`, options);
    this.name = 'BrokerPortError';
  }
}

/**
 * Starts aedes on `host:port` (port 0 = any free port).
 * @throws BrokerPortError when the port is in use; other listen errors as they are.
 */
export async function startEmbeddedBroker(port: number, host = '127.0.0.1'): Promise<EmbeddedBroker> {
  const aedes = await Aedes.createBroker();
  const server: Server = createServer(aedes.handle);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await new Promise<void>((r) => aedes.close(() => r()));
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new BrokerPortError(host, port, { cause: err });
    throw err;
  }
  const addr = server.address();
  const actual = typeof addr === 'object' && addr ? addr.port : port;
  return {
    url: `mqtt://${host}:${actual}`,
    port: actual,
    close: async () => {
      await new Promise<void>((r) => aedes.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
