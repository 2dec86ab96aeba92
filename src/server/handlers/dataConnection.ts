/**
 * Data connection set-up: PASV, EPSV (RFC 2428 §3), PORT, EPRT (RFC 2428 §2).
 * Active targets are limited to the client's own address and unprivileged
 * ports (RFC 2577 §3, no FTP bounce).
 */
import { isIPv4, isIPv6 } from 'node:net';
import {
  formatEpsvArg,
  formatPasvArg,
  parseEprtArg,
  parseEpsvArg,
  parsePortArg,
  type HostPort,
} from '../../protocol/hostPort.js';
import { activeSourcePort, decideActiveTarget } from '../../net/activeTarget.js';
import { reply } from '../../protocol/replies.js';
import { ActiveDataChannel, PassiveDataChannel } from '../../net/dataChannel.js';
import {
  ActiveTargetRefusedError,
  BadSequenceError,
  InvalidArgumentError,
  NetworkProtocolError,
  UnsupportedParameterError,
} from '../errors.js';
import { PassivePortsExhaustedError } from '../../net/passivePortPool.js';
import type { Session } from '../session.js';
import type { CommandTable } from './types.js';

async function openPassive(session: Session): Promise<PassiveDataChannel> {
  const { config, passivePorts } = session.ctx;
  if (!config.passive.enabled) throw new UnsupportedParameterError('Passive mode is disabled; use PORT or EPRT.');
  session.setDataChannel(null); // a new PASV replaces the previous listener
  const { metrics } = session.ctx;
  let channel: PassiveDataChannel;
  try {
    channel = await PassiveDataChannel.create({
      pool: passivePorts,
      bindAddress: session.localAddress,
      expectedPeer: config.passive.requireSameAddress ? session.dataPeer : null,
      acceptTimeoutMs: config.passive.acceptTimeout * 1000,
      onForeignPeer: (address) => {
        session.log.warn({ from: address }, 'refused data connection from another address');
        metrics.dataFailure('peer_mismatch');
        session.ctx.defender.record(address, 'foreignDataConnection');
      },
      onTimeout: () => metrics.dataFailure('accept_timeout'),
      sessionId: session.id,
    });
  } catch (err) {
    if (err instanceof PassivePortsExhaustedError) {
      session.log.warn({ range: `${passivePorts.min}-${passivePorts.max}` }, 'passive ports exhausted');
      metrics.dataFailure('port_exhaustion');
    }
    throw err;
  }
  session.setDataChannel(channel);
  return channel;
}

function useActive(session: Session, named: HostPort): void {
  const { config } = session.ctx;
  if (!config.active.enabled) throw new UnsupportedParameterError('Active mode is disabled; use PASV or EPSV.');
  if (session.epsvAll) throw new BadSequenceError('EPSV ALL in effect; only EPSV is allowed.');
  const decision = decideActiveTarget(named, session.clientAddress, config.active);
  if (!decision.ok) {
    session.log.warn({ target: named.host, port: named.port }, `refused active connection to ${decision.why}`);
    throw new ActiveTargetRefusedError(decision.message);
  }
  const { target } = decision;
  if (decision.rewritten) session.log.info({ named: named.host, using: target.host }, 'active target is private; using the client address');
  session.setDataChannel(
    new ActiveDataChannel({
      host: target.host,
      port: target.port,
      // Our end of the control connection is the address the client reached (the VIP under LVS-DR).
      localAddress: session.localAddress,
      localPort: activeSourcePort(config.active.sourcePort, session.localPort),
      connectTimeoutMs: config.active.connectTimeout * 1000,
      onRefused: () => session.ctx.metrics.dataFailure('active_connect_refused'),
    }),
  );
}

export const dataConnectionCommands: CommandTable = {
  PASV: {
    arg: 'none',
    async run(session) {
      if (session.epsvAll) throw new BadSequenceError('EPSV ALL in effect; only EPSV is allowed.');
      const advertised = session.ctx.advertised.forClient(session.clientAddress, session.connectedTo);
      if (advertised === null) {
        throw new NetworkProtocolError('PASV cannot express an IPv6 address; use EPSV.');
      }
      const channel = await openPassive(session);
      return reply(227, `Entering Passive Mode (${formatPasvArg({ host: advertised, port: channel.port })}).`);
    },
  },
  EPSV: {
    arg: 'optional',
    syntax: '[1 | 2 | ALL]',
    feat: 'EPSV',
    async run(session, arg) {
      const parsed = parseEpsvArg(arg);
      if (!parsed) {
        // RFC 2428 §3: an unknown protocol number gets 522 and the list of those supported.
        if (/^\d+$/.test(arg.trim())) throw new NetworkProtocolError('Network protocol not supported, use (1,2).');
        throw new InvalidArgumentError('Syntax: EPSV [1 | 2 | ALL]');
      }
      if (parsed.kind === 'all') {
        session.epsvAll = true;
        return reply(200, 'EPSV ALL ok.');
      }
      if (parsed.kind === 'family') {
        const own = isIPv6(session.localAddress) ? 6 : 4;
        // RFC 2428 §3: the reply names the usable protocol number, 1 (IPv4) or 2 (IPv6).
        if (parsed.family !== own) throw new NetworkProtocolError(`Network protocol not supported, use (${own === 4 ? 1 : 2}).`);
      }
      const channel = await openPassive(session);
      return reply(229, `Entering Extended Passive Mode ${formatEpsvArg(channel.port)}.`);
    },
  },
  PORT: {
    arg: 'required',
    syntax: '<h1,h2,h3,h4,p1,p2>',
    run(session, arg) {
      const target = parsePortArg(arg);
      if (!target) throw new InvalidArgumentError('Syntax: PORT h1,h2,h3,h4,p1,p2');
      useActive(session, target);
      return reply(200, 'PORT command successful.');
    },
  },
  EPRT: {
    arg: 'required',
    syntax: '|<proto>|<address>|<port>|',
    feat: 'EPRT',
    run(session, arg) {
      const target = parseEprtArg(arg);
      if (target === 'unsupported') throw new NetworkProtocolError('Network protocol not supported, use (1,2).');
      if (!target) throw new InvalidArgumentError('Syntax: EPRT |proto|address|port|');
      useActive(session, target);
      return reply(200, 'EPRT command successful.');
    },
  },
};
