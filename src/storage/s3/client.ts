/** The S3 client of a node, built from its storage.s3 settings. */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { S3Client } from '@aws-sdk/client-s3';

export interface S3ClientSettings {
  region: string | null;
  endpoint: string | null;
  forcePathStyle: boolean;
  accessKeyId: string | null;
  secretAccessKey: string | null;
  sessionToken: string | null;
  requestChecksumCalculation: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';
  responseChecksumValidation: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';
  maxAttempts: number;
  retryMode: 'standard' | 'adaptive';
  maxSockets: number;
  /** Seconds. */
  connectTimeout: number;
}

export function createS3Client(s: S3ClientSettings): S3Client {
  if ((s.accessKeyId === null) !== (s.secretAccessKey === null)) {
    throw new Error('storage.s3: set both accessKeyId and secretAccessKey, or neither (to use the AWS SDK default credential chain)');
  }
  const agentOptions = { keepAlive: true, maxSockets: s.maxSockets };
  return new S3Client({
    ...(s.region ? { region: s.region } : {}),
    ...(s.endpoint ? { endpoint: s.endpoint } : {}),
    forcePathStyle: s.forcePathStyle,
    ...(s.accessKeyId && s.secretAccessKey
      ? { credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey, ...(s.sessionToken ? { sessionToken: s.sessionToken } : {}) } }
      : {}),
    requestChecksumCalculation: s.requestChecksumCalculation,
    responseChecksumValidation: s.responseChecksumValidation,
    maxAttempts: s.maxAttempts,
    retryMode: s.retryMode,
    // The SDK's Node handler, with these options (no idle timeout: a slow FTP reader may pause a download).
    requestHandler: {
      connectionTimeout: s.connectTimeout * 1000,
      httpAgent: new HttpAgent(agentOptions),
      httpsAgent: new HttpsAgent(agentOptions),
    },
  });
}
