/** `serve`'s listen failures as sentences (issue 13: `--host 256.1.1.1` printed a bare "getaddrinfo ENOTFOUND"). */
export function describeListenError(error: unknown, host: string, port: number): string {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  const where = `${host}:${port}`;
  switch (code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `--host ${host}: not an address or name of this machine (${code}). Use 127.0.0.1 (this machine only) or 0.0.0.0 (every network interface).`;
    case 'EADDRNOTAVAIL':
      return `--host ${host}: no network interface of this machine has that address (EADDRNOTAVAIL). Use 127.0.0.1 or 0.0.0.0.`;
    case 'EADDRINUSE':
      return `--port ${port}: ${where} is already in use by another program (EADDRINUSE). Choose another port, or --port 0 for a free one.`;
    case 'EACCES':
    case 'EPERM':
      return `--port ${port}: not allowed to listen on ${where} (${code}); ports below 1024 need administrator rights. Use a port from 1024 up, or --port 0.`;
    default:
      return `Cannot listen on ${where}: ${error instanceof Error ? error.message : String(error)}`;
  }
}
