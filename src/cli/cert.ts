/** `ftpfleet cert self-signed`: a certificate and key for tests and demos. */
import { writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { Command } from 'commander';

export async function writeSelfSigned(host: string, certPath: string, keyPath: string, days = 825): Promise<void> {
  type AltName = { type: 2; value: string } | { type: 7; ip: string };
  const altNames: AltName[] = [isIP(host) ? { type: 7, ip: host } : { type: 2, value: host }];
  if (host !== 'localhost') altNames.push({ type: 2, value: 'localhost' });
  altNames.push({ type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' });
  const { default: selfsigned } = await import('selfsigned'); // only when a pair is made
  const pems = await selfsigned.generate([{ name: 'commonName', value: host }], {
    notAfterDate: new Date(Date.now() + days * 86400_000),
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames }],
  });
  await writeFile(keyPath, pems.private, { mode: 0o600 });
  await writeFile(certPath, pems.cert);
}

export function certCommand(): Command {
  const cert = new Command('cert').description('TLS certificates');
  cert
    .command('self-signed')
    .description('write a self-signed certificate and key (PEM) for tests and demos')
    .requiredOption('--host <name>', 'host name or IP address the certificate is for')
    .option('--cert <file>', 'certificate output', 'ftpfleet-tls.crt')
    .option('--key <file>', 'key output', 'ftpfleet-tls.key')
    .option('--days <n>', 'validity in days', (v) => Number(v), 825)
    .action(async (opts) => {
      await writeSelfSigned(opts.host, opts.cert, opts.key, opts.days);
      console.log(`wrote ${opts.cert} and ${opts.key} (self-signed for ${opts.host}, ${opts.days} days)`);
    });
  return cert;
}
