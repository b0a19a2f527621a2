// Builds the web UI into internal/webui/dist: tsc compiles src/*.ts into ES
// modules there, and the static files are copied beside them. The output
// depends only on the sources, so CI can rebuild it and compare with the
// committed copy.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "internal", "webui", "dist");

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
execFileSync(process.execPath, [join(here, "node_modules", "typescript", "bin", "tsc"), "-p", here], { stdio: "inherit" });
for (const f of readdirSync(join(here, "static")).sort()) {
  copyFileSync(join(here, "static", f), join(out, f));
}
console.log(`built ${readdirSync(out).length} files into ${out}`);
