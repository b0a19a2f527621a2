export const TASK_STATES = [
    "downloading", "seeding", "metadata", "checking", "queued", "paused", "finished", "error",
];
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
};
export const EPHEMERAL = new Set([EV.progress, EV.stats]);
export const ERROR_NAMES = {
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
