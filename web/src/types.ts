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
}

// Category is a named save path (category.list, category.set).
export interface Category {
  name: string;
  save_path: string;
  complete_path?: string;
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
