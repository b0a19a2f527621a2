// Wire types of the Lodestone WebSocket API (docs/API.md §4–§6), as the UI
// uses them. They are the generated ones (api.gen.ts, from the schema
// docs/asyncapi.json, itself generated from the Go api package), so tsc
// fails when the UI reads a field the API does not send, or reads one
// with the wrong type.

import type * as wire from "./api.gen.js";

export type TaskState = wire.TaskState;
export const TASK_STATES: readonly TaskState[] = [
  "downloading", "seeding", "metadata", "checking", "queued", "paused", "finished", "error",
];

export type Task = wire.Task;
export type TaskProgress = wire.TaskProgressData;

export type Priority = "skip" | "normal" | "high";

// TaskFile narrows the wire's priority (a string) to the values it takes.
export interface TaskFile extends wire.TaskFile {
  priority: Priority;
}

export type TaskPeer = wire.TaskPeer;
export type TaskTracker = wire.TaskTracker;
export type SessionStats = wire.SessionStats;
export type Settings = wire.Settings;
export type ServerInfo = wire.ServerInfo;
// Category is a named save path (category.list, category.set).
export type Category = wire.Category;
export type AddResult = wire.TaskAddResult;

// BulkResult answers a bulk call (task.pause, … with select): one entry
// per task selected, error 0 when it succeeded.
export type BulkResult = wire.TaskBulkResult;
// Watch is a watched folder (watch.list).
export type Watch = wire.Watch;
// Feed is an RSS or Atom feed (rss.list); FeedItem an item of its last
// fetch (rss.items); PreviewItem one that a rule matches (rss.preview).
export type Feed = wire.RSSFeed;
export type FeedItem = wire.RSSItem;
export type PreviewItem = wire.RSSPreviewItem;
// Rule is a saved RSS rule (rss.rule.list); RuleParams one as
// rss.rule.set and rss.preview take it.
export type Rule = wire.RSSRule;
export type RuleParams = wire.RSSRuleSetParams;
// Webhook is a registered webhook (webhook.list); its secret is only in
// webhook.add's answer (WebhookAdded).
export type Webhook = wire.Webhook;
export type WebhookAdded = wire.WebhookAddResult;
export type Delivery = wire.WebhookDelivery;
// ApiKey is a scoped API key (key.list); the key itself is only in
// key.create's answer (KeyCreated).
export type ApiKey = wire.Key;
export type KeyCreated = wire.KeyCreateResult;
// ClusterInfo names the cluster and the node answering (server.info, in
// cluster mode only); ClusterStatus is cluster.status, ClusterNode one of
// its nodes; TaskMoved is task.moved's data.
export type ClusterInfo = wire.ClusterInfo;
export type ClusterStatus = wire.ClusterStatusResult;
export type ClusterNode = wire.ClusterNode;
export type DrainResult = wire.ClusterDrainResult;
export type TaskMoved = wire.TaskMovedData;

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
  // Sent by daemons in a cluster (docs/CLUSTER.md).
  moved: "task.moved",
  clusterNode: "cluster.node",
} as const;

// OPTIONAL_EVENTS are the events an older daemon may not know: a
// subscription naming one it does not know is refused (103), so they are
// left out of it there.
export const OPTIONAL_EVENTS: ReadonlySet<string> = new Set([EV.rssItem, EV.watchChanged, EV.moved, EV.clusterNode]);

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
  214: "no node can take it",
  215: "node unavailable",
  216: "cluster unavailable",
  217: "not in a cluster",
  403: "forbidden",
  401: "unauthorized",
  429: "too many attempts",
  500: "internal error",
  503: "unavailable",
};
