// HS256 JWTs for bookmcp (--jwt-secret-file), signed with node:crypto: what the peer sends as its
// reader's bearer token, and (run as a program) a token for bench/chat/run.sh.
//
//   node reader_token.mjs SECRET_FILE SUBJECT   prints a token valid for an hour
import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// The secret as bookmcp reads it: the file's bytes without trailing line ends.
export function readSecret(file) {
  return readFileSync(file, 'utf8').replace(/[\r\n]+$/, '');
}

export function signToken(secret, subject, lifetimeSeconds = 600) {
  const now = Math.floor(Date.now() / 1000);
  const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ iss: 'bookmcp-chat-peer', sub: subject, iat: now, exp: now + lifetimeSeconds, jti: randomUUID() })}`;
  return `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, subject] = process.argv.slice(2);
  if (!file || !subject) {
    console.error('usage: node reader_token.mjs SECRET_FILE SUBJECT');
    process.exit(2);
  }
  console.log(signToken(readSecret(file), subject, 3600));
}
