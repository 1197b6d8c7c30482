// The agent's own S3 client: SigV4 against AWS's published examples, where requests go
// (as the SDK's endpoint rules put them), and the client against a scripted HTTP server:
// retries like the SDK's, a region redirect followed once, clock skew learnt, timeouts that
// fail instead of hanging, and errors named by S3's code with the status in $metadata.
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../agent/log.ts';
import { HttpResponseError } from '../../agent/store/http-exchange.ts';
import { S3Http } from '../../agent/store/s3-http.ts';
import { s3Target } from '../../agent/store/s3-endpoint.ts';
import { EMPTY_SHA256, encodeKeyPath, sha256Hex, signRequest } from '../../agent/store/sigv4.ts';
import { startScriptedServer, type Handler, type ScriptedServer } from '../fixtures/scripted-server.ts';

// https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html, "Examples"
describe('signRequest: the S3 documentation examples', () => {
  const credentials = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
  const base = { host: 'examplebucket.s3.amazonaws.com', region: 'us-east-1', credentials, now: new Date('2013-05-24T00:00:00Z') };
  const signature = (h: Record<string, string>) => /Signature=([0-9a-f]{64})$/.exec(h.authorization ?? '')?.[1];

  it('GET Object with a Range header', () => {
    const h = signRequest({ ...base, method: 'GET', path: '/test.txt', headers: { range: 'bytes=0-9' }, payloadHash: EMPTY_SHA256 });
    expect(signature(h)).toBe('f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41');
    expect(h.authorization).toContain('SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,');
    expect(h['x-amz-date']).toBe('20130524T000000Z');
  });

  it('PUT Object, a key that needs encoding, and a signed body', () => {
    const body = 'Welcome to Amazon S3.';
    expect(sha256Hex(body)).toBe('44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072');
    const h = signRequest({
      ...base, method: 'PUT', path: `/${encodeKeyPath('test$file.text')}`, payloadHash: sha256Hex(body),
      headers: { date: 'Fri, 24 May 2013 00:00:00 GMT', 'x-amz-storage-class': 'REDUCED_REDUNDANCY' },
    });
    expect(signature(h)).toBe('98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd');
  });

  it('GET with query parameters', () => {
    expect(signature(signRequest({ ...base, method: 'GET', path: '/', query: { lifecycle: '' }, headers: {}, payloadHash: EMPTY_SHA256 })))
      .toBe('fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543');
    expect(signature(signRequest({ ...base, method: 'GET', path: '/', query: { prefix: 'J', 'max-keys': '2' }, headers: {}, payloadHash: EMPTY_SHA256 })))
      .toBe('34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7');
  });

  it('adds the session token of temporary credentials, signed', () => {
    const h = signRequest({ ...base, credentials: { ...credentials, sessionToken: 'TOKEN' }, method: 'GET', path: '/k', headers: {}, payloadHash: EMPTY_SHA256 });
    expect(h['x-amz-security-token']).toBe('TOKEN');
    expect(h.authorization).toContain('x-amz-security-token');
  });

  it('encodes keys as SigV4 wants, keeping slashes', () => {
    expect(encodeKeyPath("herd/roles/web/a b+c(1)*!'.json")).toBe('herd/roles/web/a%20b%2Bc%281%29%2A%21%27.json');
  });
});

describe('s3Target: where requests go', () => {
  it.each([
    ['AWS, virtual-hosted', { bucket: 'fleet', region: 'eu-west-1', forcePathStyle: false }, 'https://fleet.s3.eu-west-1.amazonaws.com'],
    ['AWS, path style forced', { bucket: 'fleet', region: 'eu-west-1', forcePathStyle: true }, 'https://s3.eu-west-1.amazonaws.com/fleet'],
    ['AWS, a bucket with dots goes path style', { bucket: 'fleet.example', region: 'us-east-1', forcePathStyle: false }, 'https://s3.us-east-1.amazonaws.com/fleet.example'],
    ['AWS China', { bucket: 'fleet', region: 'cn-north-1', forcePathStyle: false }, 'https://fleet.s3.cn-north-1.amazonaws.com.cn'],
    ['AWS GovCloud, FIPS', { bucket: 'fleet', region: 'us-gov-west-1', forcePathStyle: false, fips: true }, 'https://fleet.s3-fips.us-gov-west-1.amazonaws.com'],
    ['AWS, dual-stack', { bucket: 'fleet', region: 'us-east-2', forcePathStyle: false, dualstack: true }, 'https://fleet.s3.dualstack.us-east-2.amazonaws.com'],
    ['an endpoint, path style', { bucket: 'fleet', region: 'us-east-1', endpoint: 'http://127.0.0.1:9000', forcePathStyle: true }, 'http://127.0.0.1:9000/fleet'],
    ['an endpoint with a path', { bucket: 'fleet', region: 'us-east-1', endpoint: 'https://store.example/s3/', forcePathStyle: true }, 'https://store.example/s3/fleet'],
    ['an endpoint, virtual-hosted', { bucket: 'fleet', region: 'us-east-1', endpoint: 'http://minio.internal:9000', forcePathStyle: false }, 'http://fleet.minio.internal:9000'],
  ])('%s', (_name, input, url) => {
    const t = s3Target(input);
    expect(`${t.protocol}//${t.host}${t.basePath}`).toBe(url);
  });
});

// ---- the client against a scripted server --------------------------------------------------

let server: ScriptedServer | undefined;
const scripted = async (...handlers: Handler[]) => (server = await startScriptedServer(handlers));
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const keys = { accessKeyId: 'AK', secretAccessKey: 'SK' };
const client = (endpoint: string, region = 'us-east-1') =>
  new S3Http({ source: { bucket: 'fleet', prefix: 'herd', endpoint, region }, log: silentLogger(), credentials: keys, env: {}, retryBaseMs: 1 });
const signal = () => AbortSignal.timeout(10_000);
const xmlError = (code: string, message = 'no') => `<?xml version="1.0"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;

describe('S3Http', () => {
  it('GETs path style with a signed request, and answers a matching If-None-Match with the 304', async () => {
    const s = await scripted(
      (_req, res) => res.writeHead(200, { etag: '"e1"', 'content-length': '2' }).end('{}'),
      (_req, res) => res.writeHead(304).end(),
    );
    const s3 = client(s.url);
    const first = await s3.send({ method: 'GET', key: 'herd/roles/web/channel.json', signal: signal() });
    expect(first.status).toBe(200);
    first.body.resume();
    const second = await s3.send({ method: 'GET', key: 'herd/roles/web/channel.json', headers: { 'if-none-match': '"e1"' }, signal: signal() });
    expect(second.status).toBe(304);
    second.body.resume();
    expect(s.seen[0]).toMatchObject({ method: 'GET', url: '/fleet/herd/roles/web/channel.json' });
    expect(s.seen[0]?.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AK\/\d{8}\/us-east-1\/s3\/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$/);
    expect(s.seen[1]?.headers['if-none-match']).toBe('"e1"');
    expect(s.seen[1]?.headers.authorization).toContain('SignedHeaders=host;if-none-match;');
    s3.close();
  });

  it('PUTs the body with its length and hash signed', async () => {
    const s = await scripted((_req, res) => res.writeHead(200).end());
    const s3 = client(s.url);
    (await s3.send({ method: 'PUT', key: 'herd/r.json', body: Buffer.from('{"a":1}'), headers: { 'content-type': 'application/json', 'if-match': '"x"' }, signal: signal() })).body.resume();
    expect(s.seen[0]).toMatchObject({ method: 'PUT', body: '{"a":1}' });
    expect(s.seen[0]?.headers).toMatchObject({ 'content-length': '7', 'x-amz-content-sha256': sha256Hex('{"a":1}'), 'if-match': '"x"' });
    expect(s.seen[0]?.headers.authorization).toContain('SignedHeaders=content-length;content-type;host;if-match;x-amz-content-sha256;x-amz-date,');
    s3.close();
  });

  it('retries a 500 and a 503 SlowDown, 3 attempts in all, then names the error by its code', async () => {
    const s = await scripted(
      (_req, res) => res.writeHead(500, { 'content-type': 'application/xml' }).end(xmlError('InternalError', 'We encountered an internal error.')),
      (_req, res) => res.writeHead(503).end(xmlError('SlowDown')),
      (_req, res) => res.writeHead(500).end(xmlError('InternalError', 'again')),
    );
    const err = await client(s.url).send({ method: 'GET', key: 'k', signal: signal() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpResponseError);
    expect(err).toMatchObject({ name: 'InternalError', message: 'again', $metadata: { httpStatusCode: 500 } });
    expect(s.seen).toHaveLength(3);
  });

  it('does not retry what is an answer (404, 403, 412): one request, the error as S3 named it', async () => {
    const s = await scripted((_req, res) => res.writeHead(404).end(xmlError('NoSuchKey', 'The specified key does not exist.')));
    await expect(client(s.url).send({ method: 'GET', key: 'k', signal: signal() })).rejects.toMatchObject({ name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });
    expect(s.seen).toHaveLength(1);
  });

  it('names a bodiless error answer (HEAD) by its status, as the SDK does', async () => {
    const s = await scripted((_req, res) => res.writeHead(404).end());
    await expect(client(s.url).send({ method: 'HEAD', key: 'k', signal: signal() })).rejects.toMatchObject({ name: 'NotFound', $metadata: { httpStatusCode: 404 } });
  });

  it('retries after a connection cut short, and succeeds', async () => {
    const s = await scripted(
      (req) => req.socket.destroy(),
      (_req, res) => res.writeHead(200).end('ok'),
    );
    const res = await client(s.url).send({ method: 'GET', key: 'k', signal: signal() });
    expect(res.status).toBe(200);
    res.body.resume();
    expect(s.seen).toHaveLength(2);
  });

  it('follows a 301 to the bucket\'s region once, signing for it', async () => {
    const s = await scripted(
      (_req, res) => res.writeHead(301, { 'x-amz-bucket-region': 'eu-west-1' }).end(xmlError('PermanentRedirect')),
      (_req, res) => res.writeHead(200).end('ok'),
    );
    const res = await client(s.url).send({ method: 'GET', key: 'k', signal: signal() });
    expect(res.status).toBe(200);
    res.body.resume();
    expect(s.seen[0]?.headers.authorization).toContain('/us-east-1/s3/');
    expect(s.seen[1]?.headers.authorization).toContain('/eu-west-1/s3/');
  });

  it('learns the server\'s clock from a RequestTimeTooSkewed and signs the retry with it', async () => {
    const serverDate = new Date(Date.now() + 3_600_000);
    const s = await scripted(
      (_req, res) => res.writeHead(403, { date: serverDate.toUTCString() }).end(xmlError('RequestTimeTooSkewed')),
      (_req, res) => res.writeHead(200).end('ok'),
    );
    const res = await client(s.url).send({ method: 'GET', key: 'k', signal: signal() });
    res.body.resume();
    const signedAt = (i: number) => String(s.seen[i]?.headers['x-amz-date']).slice(0, 11);
    expect(signedAt(1)).toBe(serverDate.toISOString().replace(/[-:]|\.\d{3}/g, '').slice(0, 11));
    expect(signedAt(0)).not.toBe(signedAt(1));
  });

  it('a body that stops moving fails after the idle timeout, naming it', { timeout: 30_000 }, async () => {
    const s = await scripted((_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('x'.repeat(50));
    });
    const res = await client(s.url).send({ method: 'GET', key: 'k', signal: AbortSignal.timeout(25_000) });
    const err = await (async () => { for await (const _ of res.body) { /* read */ } })().catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/timed out after 15000 ms of inactivity/);
  });

  it('an aborted request stops at once, between retries too', async () => {
    const s = await scripted(() => { /* never answers */ });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const started = Date.now();
    await expect(client(s.url).send({ method: 'GET', key: 'k', signal: controller.signal })).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('a refused connection is retried, then reported as the network said it', async () => {
    const s = await scripted((_req, res) => res.end());
    const url = s.url;
    await s.close();
    server = undefined;
    await expect(client(url).send({ method: 'GET', key: 'k', signal: signal() })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
