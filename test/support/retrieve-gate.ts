import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A proxy to Orthanc that answers the first `open` instance retrieves (WADO-RS GET .../instances/{uid}) and holds the rest until release(). */
export class RetrieveGate {
  server: http.Server;
  served = 0;
  /** Retrieves waiting at the gate, each forwarded on release(). */
  held: (() => void)[] = [];
  private open: number;
  constructor(
    private readonly target: URL,
    open: number,
  ) {
    this.open = open;
    this.server = http.createServer((req, res) => {
      res.on('error', () => undefined); // a caller killed while held
      const forward = () => {
        const up = http.request({ host: this.target.hostname, port: this.target.port, path: req.url, method: req.method, headers: req.headers }, (u) => {
          res.writeHead(u.statusCode ?? 502, u.headers);
          u.pipe(res);
        });
        up.on('error', () => res.destroy());
        if (req.readableEnded) up.end();
        else req.pipe(up);
      };
      const retrieve = req.method === 'GET' && /\/series\/[^/]+\/instances\/[^/?]+$/.test(req.url ?? '');
      if (retrieve && this.served >= this.open) return void this.held.push(forward);
      if (retrieve) this.served++;
      forward();
    });
  }
  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/dicom-web`;
  }
  /** Lets every retrieve through from now on, the held ones too. */
  release(): void {
    this.open = Infinity;
    for (const forward of this.held.splice(0)) forward();
  }
  async close(): Promise<void> {
    this.release();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
