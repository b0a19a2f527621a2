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
} as const;

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
  401: "unauthorized",
  429: "too many attempts",
  500: "internal error",
  503: "unavailable",
};
