/** How a server is named to people, the same on every page. */

/** The fields that name a server: a server record, a deployment target or a policy's node all carry them. */
export interface ServerNaming {
  hostname: string
  ip_address: string
}

/** The hostname, or the IP address for a server that has none; `withAddress` adds the address after the
 * hostname, for lists where two servers may share a hostname. */
export function serverLabel(server: ServerNaming, options: { withAddress?: boolean } = {}): string {
  if (!server.hostname) return server.ip_address
  return options.withAddress && server.ip_address ? `${server.hostname} (${server.ip_address})` : server.hostname
}
