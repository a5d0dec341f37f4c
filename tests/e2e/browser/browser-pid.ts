/** The main process of the Chromium launched on profile `dir` (found by its `--user-data-dir`), for specs that SIGKILL a browser. */
import { readFileSync, readdirSync } from 'node:fs';

export function browserPid(dir: string): number {
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    let args: string[];
    try {
      args = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (args.includes(`--user-data-dir=${dir}`) && !args.some((a) => a.startsWith('--type='))) return Number(e);
  }
  throw new Error(`no Chromium main process for ${dir}`);
}
