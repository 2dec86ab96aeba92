/**
 * Where an active-mode (PORT/EPRT) data connection may go: only to the
 * client's own address and to unprivileged ports, unless configured
 * otherwise (no FTP bounce, RFC 2577 §3). Shared by nodes and the gateway.
 */
import { NetworkList, sameAddress } from './addressMatch.js';

export interface ActiveTargetPolicy {
  privateTarget: 'refuse' | 'use-client-address';
  privateNetworks: readonly string[];
  allowForeignAddress: boolean;
  allowPrivilegedPorts: boolean;
}

export interface Endpoint {
  host: string;
  port: number;
}

export type ActiveTargetDecision =
  | { ok: true; target: Endpoint; rewritten: boolean }
  | { ok: false; why: 'another address' | 'a privileged port'; message: string };

export function decideActiveTarget(named: Endpoint, clientAddress: string, policy: ActiveTargetPolicy): ActiveTargetDecision {
  let target = named;
  let rewritten = false;
  if (policy.privateTarget === 'use-client-address' && !sameAddress(target.host, clientAddress)) {
    // A device behind NAT without an FTP helper names its private address: connect
    // to its public one, on the port it named (its NAT must forward that port).
    const privateNets = new NetworkList(policy.privateNetworks);
    if (privateNets.has(target.host) && !privateNets.has(clientAddress)) {
      target = { host: clientAddress, port: target.port };
      rewritten = true;
    }
  }
  if (!policy.allowForeignAddress && !sameAddress(target.host, clientAddress)) {
    return { ok: false, why: 'another address', message: 'Data connections go only to your own address.' };
  }
  if (!policy.allowPrivilegedPorts && target.port < 1024) {
    return { ok: false, why: 'a privileged port', message: 'Data connections go only to ports 1024 and up.' };
  }
  return { ok: true, target, rewritten };
}

/** The local port of an outgoing data connection for `sourcePort` ("control-1": ip_vs_ftp's expectation). */
export function activeSourcePort(sourcePort: 'any' | 'control-1' | number, controlPort: number): number | undefined {
  return sourcePort === 'any' ? undefined : sourcePort === 'control-1' ? controlPort - 1 : sourcePort;
}
