/**
 * Table 6 — randomised differential test: random worlds (group + foreign sockets, a socket map,
 * a random SK_REUSEPORT program: key = f(payload bytes, hash != 0, constants) with drop / pass /
 * hash-fallback branches, and random map/socket operations and sends) run on both kernels; the
 * traces (errnos, program path, helper errno, key, receiving socket or drop) must be equal.
 * Each kernel also self-checks: a successful selection delivers to the socket in that slot.
 *
 * Seeded and bounded: REUSEPORT_DIFF_SEED (default: time-derived, printed), REUSEPORT_DIFF_COUNT
 * (default 100 worlds), REUSEPORT_DIFF_BUDGET_MS (default 15000: worlds not started by then are
 * reported as skipped with that reason). Replay a failure with the printed seed.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { describeWorld, genWorld, iterationSeed, runWorld } from '../support/scenario_diff.js';
import { describeMigrateWorld, genMigrateWorld, runMigrateWorld } from '../support/scenario_diff_migrate.js';
import { describeSocketWorld, genSocketWorld, runSocketWorld } from '../support/scenario_diff_sockets.js';
import { requireKernel, targets } from '../support/scenario_kernels.js';
import { ScenarioCtx, todoFor } from '../support/scenario_runner.js';
import { KNOWN_DIFFERENCES } from './known_differences.js';


const SEED = process.env.REUSEPORT_DIFF_SEED !== undefined ? Number(process.env.REUSEPORT_DIFF_SEED) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
const COUNT = Number(process.env.REUSEPORT_DIFF_COUNT ?? 100);
const BUDGET_MS = Number(process.env.REUSEPORT_DIFF_BUDGET_MS ?? 15_000);

const ts = await targets();
const avail = ts.filter((t) => !t.unavailable);
const started = Date.now();

describe(`differential sim vs linux (REUSEPORT_DIFF_SEED=${SEED})`, () => {
  for (const t of ts) {
    if (t.unavailable) {
      const why = `${t.kind} kernel unavailable: ${t.unavailable}`;
      if (t.kind === 'linux' && requireKernel) test('differential needs the real kernel', () => assert.fail(`${why} (REUSEPORT_REQUIRE_KERNEL=1)`));
      else test(`differential on ${t.kind}`, { skip: why }, () => {});
    }
  }
  if (avail.length === 0) return;
  for (let i = 0; i < COUNT; i++) {
    const seed = iterationSeed(SEED, i);
    // every fourth world is a migration world (SELECT_OR_MIGRATE program, shutdowns)
    // (and every fourth, offset 1, a socket-API world: the calls groups are built from)
    const world = i % 4 === 3
      ? (() => { const m = genMigrateWorld(seed); return { describe: describeMigrateWorld(m), run: (c: ScenarioCtx) => runMigrateWorld(c, m) }; })()
      : i % 4 === 1
        ? (() => { const m = genSocketWorld(seed); return { describe: describeSocketWorld(m), run: (c: ScenarioCtx) => runSocketWorld(c, m) }; })()
        : (() => { const m = genWorld(seed); return { describe: describeWorld(m), run: (c: ScenarioCtx) => runWorld(c, m) }; })();
    // a known difference (sim, or a LinuxKernel wrapper bug) marks the world todo (it still runs and reports)
    const todo = avail.length === 2 ? todoFor(KNOWN_DIFFERENCES, 'differential', world.describe) : undefined;
    test(`world ${i} (REUSEPORT_DIFF_SEED=${SEED}, world seed ${seed})`, { todo }, async (tc) => {
      if (Date.now() - started > BUDGET_MS) { tc.skip(`time budget of ${BUDGET_MS} ms spent`); return; }
      const traces = new Map<string, string[]>();
      for (const target of avail) {
        const k = target.fresh();
        const c = new ScenarioCtx(k, target.kind);
        try {
          world.run(c);
        } catch (e) {
          (e as Error).message = `[${target.kind}] ${world.describe} (run seed REUSEPORT_DIFF_SEED=${SEED}, world ${i})\n` +
            `trace so far:\n  ${c.trace.join('\n  ')}\n${(e as Error).message}`;
          throw e;
        } finally {
          c.cleanup();
          target.release(k);
        }
        traces.set(target.kind, c.trace);
      }
      const lin = traces.get('linux');
      const sim = traces.get('sim');
      if (lin && sim) {
        assert.deepEqual(sim, lin, `sim (actual) differs from linux (expected) for ${world.describe} — replay with REUSEPORT_DIFF_SEED=${SEED}`);
      }
    });
  }
});
