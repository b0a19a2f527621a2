// Wire types of the Lodestone WebSocket API (docs/API.md §4–§6), as the UI
// uses them. Fields the UI does not read are left out: the API only ever
// adds fields, and unknown ones are ignored.

export type TaskState =
  | "metadata" | "checking" | "queued" | "downloading"
  | "seeding" | "finished" | "paused" | "error";

export const TASK_STATES: readonly TaskState[] = [
  "downloading", "seeding", "metadata", "checking", "queued", "paused", "finished", "error",
];

export interface Task {
  task_id: string;
  name: string;
  size: number;
  completed: number;
  state: TaskState;
  error?: string;
  added_at: string;
  finished_at?: string;
  download_rate: number;
  upload_rate: number;
  peers: number;
  downloaded: number;
  uploaded: number;
  ratio: number;
  eta_seconds: number;
  pieces: number;
  piece_size: number;
  labels: string[];
  // category is "" when the task has none (older daemons leave it out).
  category: string;
  download_dir: string;
  sequential: boolean;
  download_rate_limit: number;
  upload_rate_limit: number;
}

export interface TaskProgress {
  task_id: string;
  state: TaskState;
  size: number;
  completed: number;
  download_rate: number;
  upload_rate: number;
  peers: number;
  eta_seconds: number;
  downloaded?: number;
  uploaded?: number;
  ratio?: number;
}

export type Priority = "skip" | "normal" | "high";

export interface TaskFile {
  index: number;
  path: string;
  size: number;
  completed: number;
  priority: Priority;
}

export interface TaskPeer {
  address: string;
  client: string;
  network: string;
  source: string;
  downloaded: number;
  uploaded: number;
  download_rate: number;
  upload_rate: number;
  progress: number;
  flags?: string[];
}

export interface TaskTracker {
  url: string;
  status: string;
  last_error?: string;
  last_announce?: string;
  next_announce?: string;
  seeders: number;
  leechers: number;
}

export interface SessionStats {
  download_rate: number;
  upload_rate: number;
  downloaded: number;
  uploaded: number;
  tasks: number;
  tasks_by_state: Partial<Record<TaskState, number>>;
  free_disk_bytes: number;
}

export interface Settings {
  download_rate_limit: number;
  upload_rate_limit: number;
  max_active_downloads: number;
  seed_ratio_limit: number;
  seed_time_limit: number;
  max_active_seeds: number;
  download_dir: string;
  peer_port: number;
}

export interface ServerInfo {
  version: string;
  api_version: number;
  engine_version: string;
  uptime_seconds: number;
  last_event_id: string;
  // scope is what this connection may do: "admin" for the token, a key's
  // scope ("read", "control", "admin") for an API key. Older daemons leave
  // it out (the token: admin).
  scope?: string;
}

// Category is a named save path (category.list, category.set).
export interface Category {
  name: string;
  save_path: string;
  complete_path?: string;
}

// BulkResult answers a bulk call (task.pause, … with select): one entry
// per task selected, error 0 when it succeeded.
export interface BulkResult {
  results: { task_id: string; error: number; message?: string }[];
}

// Watch is a watched folder (watch.list).
export interface Watch {
  path: string;
  category: string;
  created_at: number;
  added: number;
  invalid: number;
  last_error?: string;
}

// Feed is an RSS or Atom feed (rss.list).
export interface Feed {
  feed_id: string;
  url: string;
  interval_s: number;
  title: string;
  last_fetch_at: number;
  last_error: string;
  items: number;
}

// FeedItem is an item of a feed's last fetch (rss.items, rss.preview).
export interface FeedItem {
  feed_id: string;
  guid: string;
  title: string;
  link: string;
  published_at: number;
  episode?: string;
  // added: rss.preview only.
  added?: boolean;
}

// Rule is an RSS download rule (rss.rule.list, rss.rule.set).
export interface Rule {
  name: string;
  feeds?: string[];
  include: string;
  exclude?: string;
  category?: string;
  paused?: boolean;
  dedupe_episodes?: boolean;
  enabled?: boolean;
}

// Webhook is a registered webhook (webhook.list; the secret only in
// webhook.add's answer).
export interface Webhook {
  webhook_id: string;
  url: string;
  events: string[];
  created_at: number;
  pending?: number;
  last_status?: number;
  last_delivery_at?: number;
  secret?: string;
}

// Delivery is one event's delivery to a webhook (webhook.deliveries).
export interface Delivery {
  event_id: string;
  event: string;
  state: "pending" | "delivered" | "failed";
  attempts: number;
  status: number;
  error?: string;
  last_attempt_at: number;
  next_attempt_at?: number;
}

// ApiKey is a scoped API key (key.list; the key itself only in
// key.create's answer).
export interface ApiKey {
  key_id: string;
  name: string;
  scope: string;
  created_at: number;
  last_used_at: number;
  key?: string;
}

export interface AddResult {
  task_id: string;
  name: string;
  size: number;
}

export interface ApiEvent {
  id: string;
  name: string;
  data: unknown;
}

// Event names (docs/API.md §6). The UI subscribes to all of them.
export const EV = {
  added: "task.added",
  metadata: "task.metadata",
  state: "task.state",
  finished: "task.finished",
  error: "task.error",
  removed: "task.removed",
  alert: "engine.alert",
  progress: "task.progress",
  stats: "session.stats",
  changed: "task.changed",
  categories: "category.changed",
  // Sent by daemons with RSS and watch folders; subscribed to when the
  // daemon knows them (OPTIONAL_EVENTS).
  rssItem: "rss.item_added",
  watchChanged: "watch.changed",
} as const;

// OPTIONAL_EVENTS are the events an older daemon may not know: a
// subscription naming one it does not know is refused (103), so they are
// left out of it there.
export const OPTIONAL_EVENTS: ReadonlySet<string> = new Set([EV.rssItem, EV.watchChanged]);

// Ephemeral events are never replayed and may arrive after higher ids.
export const EPHEMERAL: ReadonlySet<string> = new Set([EV.progress, EV.stats]);

// Error code names (docs/API.md §7), for messages shown to the user.
export const ERROR_NAMES: Readonly<Record<number, string>> = {
  100: "parse error",
  101: "invalid request",
  102: "unknown method",
  103: "invalid parameters",
  200: "bad torrent",
  201: "bad magnet link",
  202: "task not found",
  203: "not possible in this state",
  204: "fetch failed",
  205: "not enough disk space",
  206: "unsupported torrent",
  207: "path taken by another task",
  208: "no such category",
  209: "no such watch folder",
  210: "no such feed",
  211: "no such rule",
  212: "no such webhook",
  213: "no such key",
  403: "forbidden",
  401: "unauthorized",
  429: "too many attempts",
  500: "internal error",
  503: "unavailable",
};
