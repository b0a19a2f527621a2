// A scripted session of @ctrl/qbittorrent against one qBittorrent WebUI
// API v2 server (Lodestone or qbittorrent-nox), run by the Go tests in
// internal/compat/qbittorrent. It uses the client's own methods (and,
// where the client has none, its own request()), records what it
// observes, and prints it as one JSON object on stdout. It asserts
// nothing itself: the Go test compares the two servers' observations.
//
// Input: the JSON in $QB_INPUT:
//   baseUrl, username, password  the server and its credentials
//   torrentPath, torrentHash     a multi-file .torrent announcing to a
//                                loopback tracker
//   magnet, magnetHash           a magnet with x.pe set to the seeder
//   savePath                     where the .torrent is saved
//   categoryPath                 the save path of category "tv-sonarr"
//   movePath                     where setLocation moves the .torrent
//   outsidePath                  a directory outside the default save path
//   timeoutMs                    the bound of every wait
//   totalMs                      the bound of the whole session
import { readFile } from 'node:fs/promises';
import { QBittorrent } from '@ctrl/qbittorrent';

const input = JSON.parse(process.env.QB_INPUT);
const out = { steps: [], errors: {}, states: {}, types: {}, sync: {} };
const deadlineMs = input.timeoutMs ?? 60000;
// The whole session ends by sessionEnd: once it passes, waits give up at
// once, so the observation is always printed before the caller's bound.
const sessionEnd = Date.now() + (input.totalMs ?? 120000);

const config = {
  baseUrl: input.baseUrl,
  username: input.username,
  password: input.password,
  timeout: 15000,
};
const client = new QBittorrent(config);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function describe(e) {
  const status = e?.statusCode ?? e?.status ?? e?.response?.status ?? null;
  let body = e?.data ?? e?.response?._data ?? null;
  if (body !== null && typeof body !== 'string') body = JSON.stringify(body);
  return { message: String(e?.message ?? e), status, body };
}

// step runs fn and records whether it succeeded; a failure is recorded,
// not thrown, so the rest of the session still runs.
async function step(name, fn) {
  try {
    const v = await fn();
    out.steps.push({ name, ok: true });
    return v;
  } catch (e) {
    out.steps.push({ name, ok: false, error: describe(e) });
    return undefined;
  }
}

// answer records the HTTP status and body a request gets, success or not.
async function answer(name, fn) {
  try {
    const v = await fn();
    out.errors[name] = { status: 200, body: typeof v === 'string' ? v : JSON.stringify(v ?? '') };
  } catch (e) {
    const d = describe(e);
    out.errors[name] = { status: d.status, body: d.body ?? '' };
  }
}

function typeOf(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function shape(obj) {
  const s = {};
  for (const [k, v] of Object.entries(obj ?? {})) s[k] = typeOf(v);
  return s;
}

function pick(obj, keys) {
  const o = {};
  for (const k of keys) if (obj && k in obj) o[k] = obj[k];
  return o;
}

const form = (o) => new URLSearchParams(o);

// note appends a torrent's state to its observed sequence, once per change.
function note(t) {
  const seq = (out.states[t.hash] ??= []);
  if (seq[seq.length - 1] !== t.state) seq.push(t.state);
}

// waitFor polls torrents/info until pred holds for the torrent with hash,
// noting every state seen; it returns the torrent, or undefined (and
// records the miss) when the wait ends.
async function waitFor(name, hash, pred) {
  const start = Date.now();
  const end = Math.min(start + deadlineMs, sessionEnd);
  let last;
  while (Date.now() < end) {
    let list = [];
    try {
      list = await client.listTorrents();
    } catch (e) {
      out.steps.push({ name: `${name}: list`, ok: false, error: describe(e) });
      return undefined;
    }
    for (const t of list) note(t);
    last = list.find((t) => t.hash === hash);
    if (last && pred(last)) {
      out.steps.push({ name, ok: true });
      return last;
    }
    if (!last && Date.now() - start > 15000) {
      break; // not listed at all: no use waiting for its state
    }
    await sleep(100);
  }
  out.steps.push({ name, ok: false, error: { message: `not within ${Date.now() - start} ms; last ${JSON.stringify(last ?? null)}` } });
  return undefined;
}

const upStates = new Set(['uploading', 'stalledUP', 'queuedUP', 'forcedUP']);
const stoppedUP = new Set(['pausedUP', 'stoppedUP']);
const done = (t) => t.progress === 1 && upStates.has(t.state);

// Detection and login.
out.login = await step('login', () => client.login());
out.appVersion = await step('getAppVersion', () => client.getAppVersion());
out.apiVersion = await step('getApiVersion', () => client.getApiVersion());
const prefs = await step('getPreferences', () => client.getPreferences());
out.types.preferences = shape(prefs);
out.preferences = pick(prefs, ['save_path', 'dht', 'queueing_enabled', 'max_ratio_enabled', 'max_ratio',
  'max_seeding_time_enabled', 'max_seeding_time', 'max_ratio_act']);

// Categories.
await step('createCategory tv-sonarr', () => client.createCategory('tv-sonarr', input.categoryPath));
await step('createCategory movies', () => client.createCategory('movies'));
out.categories = await step('getCategories', () => client.getCategories());

// A paused .torrent with a category, a save path and tags; a magnet
// through normalizedAddTorrent with a category (the client's "label").
const torrentData = await readFile(input.torrentPath);
await step('addTorrent', () => client.addTorrent(torrentData, {
  paused: 'true', savepath: input.savePath, category: 'movies', tags: 'compat,first', filename: 'multi.torrent',
}));
// qBittorrent adds in the background and numbers its queue in the order
// adds finish: the .torrent is waited for before the magnet is added, so
// both servers give them the same priorities.
for (let i = 0; i < 100; i++) {
  try {
    await client.getTorrent(input.torrentHash);
    break;
  } catch {
    await sleep(100);
  }
}
// The client asks for the torrent right after adding it; qBittorrent
// adds a magnet in the background, so under load that first look can
// miss it ("Torrent not found", seen against qbittorrent-nox in CI). The
// add was made: look again, for at most 10 s, as a caller of the client
// must.
const normalized = await step('normalizedAddTorrent magnet', async () => {
  try {
    return await client.normalizedAddTorrent(input.magnet, { label: 'tv-sonarr' });
  } catch (e) {
    if (!String(e?.message).includes('Torrent not found')) throw e;
    for (let i = 0; i < 100; i++) {
      await sleep(100);
      try {
        return await client.getTorrent(input.magnetHash);
      } catch {
        // not there yet
      }
    }
    throw e;
  }
});
out.normalized = pick(normalized, ['id', 'name', 'state', 'label', 'savePath', 'totalSize', 'isCompleted']);

// The paused .torrent as listed, read in full before anything runs.
const paused = await waitFor('torrent listed paused', input.torrentHash, (t) => t.state === 'pausedDL' || t.state === 'stoppedDL');
out.types.torrent = shape(paused);
out.pausedTorrent = pick(paused, ['hash', 'name', 'state', 'category', 'tags', 'save_path', 'size', 'total_size',
  'progress', 'amount_left', 'eta', 'ratio_limit', 'seeding_time_limit', 'priority', 'auto_tmm', 'dlspeed', 'upspeed']);

// The magnet downloads.
const magnet = await waitFor('magnet downloaded', input.magnetHash, done);
out.magnetTorrent = pick(magnet, ['hash', 'name', 'state', 'category', 'save_path', 'content_path', 'progress',
  'amount_left', 'size', 'completion_on', 'eta']);

out.allData = await step('getAllData', async () => {
  const all = await client.getAllData();
  return { count: all.torrents.length, labels: all.labels.map((l) => l.name).sort() };
});
const got = await step('getTorrent', () => client.getTorrent(input.torrentHash));
out.getTorrent = pick(got, ['id', 'name', 'state', 'label', 'savePath', 'totalSize', 'isCompleted', 'stateMessage']);

const files = await step('torrentFiles', () => client.torrentFiles(input.torrentHash));
out.types.file = shape(files?.[0]);
out.files = (files ?? []).map((f) => ({ name: f.name, size: f.size, index: f.index, priority: f.priority })).sort((a, b) => a.name.localeCompare(b.name));
const props = await step('torrentProperties', () => client.torrentProperties(input.torrentHash));
out.types.properties = shape(props);
out.properties = pick(props, ['save_path', 'total_size', 'pieces_num', 'piece_size', 'seeding_time', 'nb_connections_limit', 'share_ratio']);
const trackers = await step('torrentTrackers', () => client.torrentTrackers(input.torrentHash));
out.types.tracker = shape(trackers?.find((t) => /^https?:/.test(t.url)) ?? trackers?.[0]);
out.trackers = (trackers ?? []).map((t) => t.url);

// sync/maindata: a full update, then a delta against its rid.
const md0 = await step('getSyncMainData 0', () => client.getSyncMainData(0));
out.sync.full = {
  keys: Object.keys(md0 ?? {}).sort(),
  full_update: md0?.full_update,
  rid: typeOf(md0?.rid),
  torrent: shape(md0?.torrents?.[input.torrentHash]),
  torrentHashes: Object.keys(md0?.torrents ?? {}).sort(),
  categories: md0?.categories,
  tags: md0?.tags,
  server_state: shape(md0?.server_state),
};

// Run the .torrent to the end.
await step('resumeTorrent', () => client.resumeTorrent(input.torrentHash));
await waitFor('torrent downloaded', input.torrentHash, done);

const md1 = await step('getSyncMainData rid', () => client.getSyncMainData(md0?.rid));
out.sync.delta = {
  keys: Object.keys(md1 ?? {}).sort(),
  full_update: md1?.full_update ?? null,
  ridGrew: typeof md1?.rid === 'number' && typeof md0?.rid === 'number' && md1.rid > md0.rid,
  torrent: shape(md1?.torrents?.[input.torrentHash]),
};

// Pause and resume (the 4.x names), stop and start (the 5.x names, by
// telling the client it talks to a 5.0 server).
await step('pauseTorrent', () => client.pauseTorrent(input.torrentHash));
await waitFor('torrent paused', input.torrentHash, (t) => stoppedUP.has(t.state));
await step('resumeTorrent again', () => client.resumeTorrent(input.torrentHash));
await waitFor('torrent seeding again', input.torrentHash, done);
const v5 = QBittorrent.createFromState(config, { ...client.exportState(), version: { version: 'v5.0.0', isVersion5OrHigher: true } });
await answer('stopTorrent (v5 name)', () => v5.stopTorrent(input.torrentHash));
await sleep(300);
await answer('startTorrent (v5 name)', () => v5.startTorrent(input.torrentHash));
await waitFor('torrent seeding after stop/start', input.torrentHash, done);

// Recheck, then move.
await step('recheckTorrent', () => client.recheckTorrent(input.torrentHash));
await waitFor('torrent seeding after recheck', input.torrentHash, done);
await step('setTorrentLocation', () => client.setTorrentLocation(input.torrentHash, input.movePath));
const moved = await waitFor('torrent moved', input.torrentHash, (t) => t.save_path.replace(/\/$/, '') === input.movePath && done(t));
out.moved = pick(moved, ['save_path', 'content_path', 'state']);

// Category and tags.
await step('setTorrentCategory', () => client.setTorrentCategory(input.torrentHash, 'tv-sonarr'));
await step('addTorrentTags', () => client.addTorrentTags(input.torrentHash, 'extra'));
await step('removeTorrentTags', () => client.removeTorrentTags(input.torrentHash, 'first'));
out.tags = await step('getTags', async () => (await client.getTags()).sort());
out.byCategory = await step('listTorrents category', async () => (await client.listTorrents({ category: 'tv-sonarr' })).map((t) => t.hash).sort());
out.byTag = await step('listTorrents tag', async () => (await client.listTorrents({ tag: 'extra' })).map((t) => t.hash).sort());
out.filtered = await step('listTorrents filter completed', async () => (await client.listTorrents({ filter: 'completed' })).length);

// Limits.
await step('setShareLimits', () => client.request('/torrents/setShareLimits', 'POST', undefined,
  form({ hashes: input.torrentHash, ratioLimit: '2', seedingTimeLimit: '60' }), undefined, false));
await step('setTorrentDownloadLimit', () => client.setTorrentDownloadLimit(input.torrentHash, 1048576));
await step('setTorrentUploadLimit', () => client.setTorrentUploadLimit(input.torrentHash, 524288));
out.downloadLimit = await step('getTorrentDownloadLimit', () => client.getTorrentDownloadLimit(input.torrentHash));
const limited = await step('getTorrent after limits', async () => (await client.listTorrents({ hashes: input.torrentHash }))[0]);
out.limited = pick(limited, ['category', 'tags', 'ratio_limit', 'seeding_time_limit', 'dl_limit', 'up_limit']);
await step('reannounceTorrent', () => client.reannounceTorrent(input.torrentHash));

// The delta after those changes names what changed.
const md2 = await step('getSyncMainData after changes', () => client.getSyncMainData(md1?.rid));
out.sync.changes = {
  full_update: md2?.full_update ?? null,
  torrent: Object.keys(md2?.torrents?.[input.torrentHash] ?? {}).sort(),
};

// Error answers, each as the server gives them.
const unknown = '0123456789abcdef0123456789abcdef01234567';
await answer('topPriority (queueing off)', () => client.topPriority(input.torrentHash));
await answer('torrentProperties unknown hash', () => client.torrentProperties(unknown));
await answer('torrentFiles unknown hash', () => client.torrentFiles(unknown));
await answer('torrentTrackers unknown hash', () => client.torrentTrackers(unknown));
await answer('setShareLimits without limits', () => client.request('/torrents/setShareLimits', 'POST', undefined,
  form({ hashes: input.torrentHash }), undefined, false));
await answer('setTorrentLocation empty', () => client.setTorrentLocation(input.torrentHash, ''));
await answer('setTorrentCategory unknown category', () => client.setTorrentCategory(input.torrentHash, 'no-such-category'));
await answer('createCategory empty name', () => client.createCategory(''));
await answer('createCategory outside the save path', () => client.createCategory('elsewhere', input.outsidePath));
await answer('torrentProperties without hash', () => client.request('/torrents/properties', 'GET', undefined, undefined, undefined, false));
await answer('unknown endpoint', () => client.request('/torrents/noSuchThing', 'GET', undefined, undefined, undefined, false));

// Remove: the magnet keeping its data, the .torrent with its files.
await step('removeTorrent magnet', () => client.removeTorrent(input.magnetHash, false));
await step('removeTorrent with files', () => client.removeTorrent(input.torrentHash, true));
const end = Math.min(Date.now() + deadlineMs, sessionEnd);
let left = [];
do {
  left = (await step('listTorrents after remove', () => client.listTorrents())) ?? [];
  if (left.length === 0) break;
  await sleep(100);
} while (Date.now() < end);
out.left = left.map((t) => t.hash);
const md3 = await step('getSyncMainData after remove', () => client.getSyncMainData(md2?.rid));
out.sync.removed = {
  full_update: md3?.full_update ?? null,
  torrents_removed: (md3?.torrents_removed ?? []).slice().sort(),
};

process.stdout.write(JSON.stringify(out) + '\n');
