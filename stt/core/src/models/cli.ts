#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { downloadFile, DownloadError, verifyFile } from './download.js';
import { progressPrinter } from './progress_bar.js';
import { findModel, MODELS, modelUrl } from './registry.js';
import { defaultModelDir } from './store.js';

const program = new Command('models')
  .description('Download and check the Whisper ggml models the services use')
  .option('-d, --dir <dir>', 'model directory (env STT_MODEL_DIR)', defaultModelDir())
  .option('--base-url <url>', 'mirror to download from (env STT_MODEL_BASE_URL)');

program
  .command('list')
  .description('list known models and whether each is downloaded')
  .action(() => {
    const { dir } = program.opts<{ dir: string }>();
    for (const m of MODELS) {
      const here = existsSync(join(dir, m.file)) ? 'downloaded' : '-';
      console.log(`${m.name.padEnd(20)} ${here.padEnd(11)} ${m.note}`);
    }
    console.log(`\nmodel directory: ${dir}`);
  });

program
  .command('pull')
  .description('download models, resuming partial files and verifying checksums')
  .argument('<names...>', `model names (${MODELS.map((m) => m.name).join(', ')})`)
  .action(async (names: string[]) => {
    const { dir, baseUrl } = program.opts<{ dir: string; baseUrl?: string }>();
    for (const name of names) {
      const entry = findModel(name);
      if (!entry) throw new Error(`unknown model "${name}"; known: ${MODELS.map((m) => m.name).join(', ')}`);
      const dest = join(dir, entry.file);
      if (existsSync(dest)) {
        console.error(`${name}: already at ${dest}`);
        continue;
      }
      const url = modelUrl(entry, baseUrl);
      console.error(`${name}: downloading ${url}`);
      try {
        await downloadFile({ url, dest, checksums: entry, onProgress: progressPrinter(name) });
      } catch (error) {
        if (!(error instanceof DownloadError)) throw error;
        throw new Error(
          `${name}: ${error.message}.\n` +
            `Offline or behind a firewall: copy ${entry.file} from a machine that has it into ${dir}, or anywhere and run with STT_MODEL=/path/to/${entry.file}; ` +
            `or download from a mirror you can reach: STT_MODEL_BASE_URL=https://your.mirror/path npm run models -- pull ${name} (or --base-url).`,
        );
      }
      console.error(`${name}: verified and saved to ${dest}`);
    }
  });

program
  .command('verify')
  .description('check downloaded models against their checksums')
  .argument('[names...]', 'model names (default: every downloaded model)')
  .action(async (names: string[]) => {
    const { dir } = program.opts<{ dir: string }>();
    const entries = names.length > 0 ? names.map((n) => findModel(n) ?? { name: n, file: '' }) : MODELS.filter((m) => existsSync(join(dir, m.file)));
    let bad = 0;
    for (const entry of entries) {
      if (!('sha1' in entry)) throw new Error(`unknown model "${entry.name}"`);
      try {
        await verifyFile(join(dir, entry.file), entry);
        console.log(`${entry.name}: ok`);
      } catch (error) {
        bad++;
        console.log(`${entry.name}: ${(error as Error).message}`);
      }
    }
    if (bad > 0) process.exitCode = 1;
  });

program
  .command('path')
  .description('print the file a model name resolves to')
  .argument('<name>')
  .action((name: string) => {
    const { dir } = program.opts<{ dir: string }>();
    const entry = findModel(name);
    if (!entry) throw new Error(`unknown model "${name}"`);
    console.log(join(dir, entry.file));
  });

program.parseAsync().catch((error: Error) => {
  console.error(`models: ${error.message}`);
  process.exit(1);
});
