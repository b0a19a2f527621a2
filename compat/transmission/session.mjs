// A scripted session of @ctrl/transmission (the client Flood, Cross-seed
// and others use) against one Transmission RPC server, through the
// client's own methods only. internal/compat/transmission runs it against
// Lodestone and against transmission-daemon 3.00 and compares what it
// prints: one JSON object, {steps: [{name, ok, error, value}]}, where
// value is what the client returned or observed. A step that throws is
// recorded and the session goes on, so one failure does not hide the
// rest.
//
// Input: the environment variable TR_COMPAT, a JSON object:
//   baseUrl, username, password   where and who (baseUrl "http://host:port/")
//   downloadDir, moveDir          folders on the server for add and move
//   torrent, hash, name           a .torrent (base64), its info-hash and name
//   magnet, magnetHash, magnetName  a magnet, its info-hash and name
//   waitMagnet                    wait for the magnet's download too
//   normalizedMagnet              if set, also add this magnet with
//                                 normalizedAddTorrent (whose download-dir
//                                 is always /downloads)
//   timeoutMs                     bound of every wait
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Transmission } from '@ctrl/transmission';

const cfg = JSON.parse(process.env.TR_COMPAT);
const client = new Transmission({
  baseUrl: cfg.baseUrl,
  username: cfg.username,
  password: cfg.password,
  timeout: 15000,
});
const steps = [];

async function step(name, fn) {
  try {
    const value = await fn();
    steps.push({ name, ok: true, value: value ?? null });
    return value;
  } catch (err) {
    steps.push({ name, ok: false, error: String(err && err.message ? err.message : err) });
    return undefined;
  }
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

// poll calls fn every 100 ms until it returns a value other than
// undefined; it throws after timeoutMs, naming what it last saw.
async function poll(what, fn) {
  const deadline = Date.now() + cfg.timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last.done) {
      return last.value;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: not within ${cfg.timeoutMs} ms; last ${JSON.stringify(last.value)}`);
    }
    await sleep(100);
  }
}

// raw is the torrent-get object of hash with the fields listTorrents asks
// for, and the few more this session reads.
async function raw(hash) {
  const res = await client.listTorrents(hash, ['uploadLimit', 'uploadLimited', 'seedIdleMode']);
  return res.arguments.torrents[0];
}

// files maps every file under dir/name to its sha256 (hex), keyed by its
// slash-separated path from dir: what the server wrote on this machine's
// disk.
function files(dir, name) {
  const out = {};
  const walk = p => {
    if (!statSync(p).isDirectory()) {
      out[relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
      return;
    }
    for (const e of readdirSync(p)) {
      walk(join(p, e));
    }
  };
  try {
    walk(join(dir, name));
  } catch (err) {
    if (err.code !== 'ENOENT') {
      throw err;
    }
  }
  return out;
}

// types maps each key of obj to its JSON type.
function types(obj) {
  const out = {};
  for (const [k, v] of Object.entries(obj)) {
    out[k] = v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
  }
  return out;
}

// states polls getTorrent until cond holds, collecting every state and
// raw status seen on the way.
async function states(what, hash, cond) {
  const seen = [];
  const statuses = [];
  const last = await poll(what, async () => {
    const t = await client.getTorrent(hash);
    if (seen.at(-1) !== t.state) {
      seen.push(t.state);
    }
    if (statuses.at(-1) !== t.raw.status) {
      statuses.push(t.raw.status);
    }
    return { done: cond(t), value: { state: t.state, progress: t.progress, savePath: t.savePath } };
  });
  return { seen, statuses, last };
}

await step('getSession', async () => {
  const s = await client.getSession();
  return {
    result: s.result,
    version: s.arguments.version,
    rpcVersion: s.arguments['rpc-version'],
    downloadDir: s.arguments['download-dir'],
    keys: Object.keys(s.arguments).sort(),
  };
});

await step('addTorrent', async () => {
  const res = await client.addTorrent(cfg.torrent, { 'download-dir': cfg.downloadDir, paused: true });
  return { result: res.result, arguments: res.arguments };
});
await step('addTorrent again', async () => {
  const res = await client.addTorrent(cfg.torrent, { 'download-dir': cfg.downloadDir, paused: true });
  return { result: res.result, arguments: res.arguments };
});
await step('addMagnet', async () => {
  const res = await client.addMagnet(cfg.magnet, { 'download-dir': cfg.downloadDir });
  return { result: res.result, arguments: res.arguments };
});
if (cfg.normalizedMagnet) {
  await step('normalizedAddTorrent', async () => {
    const t = await client.normalizedAddTorrent(cfg.normalizedMagnet, { label: 'tv' });
    return { id: t.id, label: t.label, savePath: t.savePath };
  });
}

await step('getAllData', async () => {
  const all = await client.getAllData();
  return {
    hashes: all.torrents.map(t => t.id).sort(),
    states: Object.fromEntries(all.torrents.map(t => [t.id, t.state])),
  };
});
await step('listTorrents types', async () => types(await raw(cfg.hash)));
await step('getTorrent paused', async () => {
  // Transmission checks a new torrent's local data first (status 1,
  // which the client calls "unknown", then 2, "checking").
  await states('check', cfg.hash, t => t.state === 'paused');
  const t = await client.getTorrent(cfg.hash);
  return { id: t.id, name: t.name, state: t.state, savePath: t.savePath, totalSize: t.totalSize, progress: t.progress };
});

await step('resumeTorrent', async () => {
  await client.resumeTorrent(cfg.hash);
  const seen = await states('download', cfg.hash, t => t.isCompleted && t.state === 'seeding');
  return { ...seen, files: files(cfg.downloadDir, cfg.name) };
});
if (cfg.waitMagnet) {
  await step('magnet download', async () => {
    const seen = await states('magnet download', cfg.magnetHash, t => t.isCompleted && t.state === 'seeding');
    return { ...seen, files: files(cfg.downloadDir, cfg.magnetName) };
  });
}
await step('pauseTorrent', async () => {
  await client.pauseTorrent(cfg.hash);
  return states('pause', cfg.hash, t => t.state === 'paused');
});
await step('verifyTorrent', async () => {
  const res = await client.verifyTorrent(cfg.hash);
  const seen = await states('verify', cfg.hash, t => t.state === 'paused' && t.progress === 1);
  const t = await raw(cfg.hash);
  return { result: res.result, ...seen, downloadedEver: t.downloadedEver, haveValid: t.haveValid };
});

await step('setTorrent', async () => {
  const res = await client.setTorrent(cfg.hash, {
    downloadLimit: 100,
    downloadLimited: true,
    uploadLimit: 50,
    uploadLimited: true,
    labels: ['tv', 'hd'],
    seedRatioLimit: 2.5,
    seedRatioMode: 1,
    seedIdleLimit: 30,
    seedIdleMode: 1,
  });
  const t = await raw(cfg.hash);
  return {
    result: res.result,
    downloadLimit: t.downloadLimit,
    downloadLimited: t.downloadLimited,
    uploadLimit: t.uploadLimit,
    uploadLimited: t.uploadLimited,
    labels: t.labels,
    seedRatioLimit: t.seedRatioLimit,
    seedRatioMode: t.seedRatioMode,
    seedIdleLimit: t.seedIdleLimit,
    label: (await client.getTorrent(cfg.hash)).label,
  };
});

// The queue: two torrents; each move is read back as queuePosition.
const position = async hash => (await client.getTorrent(hash)).queuePosition;
await step('queue', async () => {
  const out = {};
  for (const [name, fn] of [
    ['bottom', () => client.queueBottom(cfg.hash)],
    ['top', () => client.queueTop(cfg.hash)],
    ['down', () => client.queueDown(cfg.hash)],
    ['up', () => client.queueUp(cfg.hash)],
  ]) {
    const res = await fn();
    out[name] = { result: res.result, position: await position(cfg.hash), other: await position(cfg.magnetHash) };
  }
  return out;
});

await step('moveTorrent', async () => {
  const res = await client.moveTorrent(cfg.hash, cfg.moveDir);
  if (res.result !== 'success') {
    return { result: res.result };
  }
  const seen = await states('move', cfg.hash, t => t.savePath === cfg.moveDir);
  return { result: res.result, savePath: seen.last.savePath, files: files(cfg.moveDir, cfg.name), left: files(cfg.downloadDir, cfg.name) };
});
await step('freeSpace', async () => {
  const res = await client.freeSpace(cfg.downloadDir);
  return { result: res.result, path: res.arguments.path, sizeBytesType: typeof res.arguments['size-bytes'], positive: res.arguments['size-bytes'] > 0 };
});
await step('reannounceTorrent', async () => (await client.reannounceTorrent(cfg.hash)).result);

await step('getTorrent unknown', async () => client.getTorrent('0000000000000000000000000000000000000000'));

await step('removeTorrent', async () => {
  const a = await client.removeTorrent(cfg.magnetHash, false);
  const b = await client.removeTorrent(cfg.hash, true);
  await poll('removed', async () => {
    const res = await client.listTorrents();
    return { done: res.arguments.torrents.length === 0, value: res.arguments.torrents.map(t => t.hashString) };
  });
  return { results: [a.result, b.result], moved: files(cfg.moveDir, cfg.name), magnet: files(cfg.downloadDir, cfg.magnetName) };
});

process.stdout.write(JSON.stringify({ steps }) + '\n');
