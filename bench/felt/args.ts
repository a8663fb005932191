/** Command-line flags of `npm run bench:felt`. */

export interface FeltArgs {
  turns: 'server' | 'detect';
  detector: 'silero' | 'hybrid';
  language: 'auto' | 'en' | 'ko';
  /** STT_THREADS for the stack; undefined keeps the stack's own default. */
  threads?: number;
  quick: boolean;
  /** Synthetic models say words without a closing period (the service's non-sentence end of turn). */
  unpunctuated: boolean;
  /** Server turns: the client asks for live partials (they must not delay a final). */
  partials: boolean;
  /** Print the conversation and the floor, start nothing. */
  plan: boolean;
  out: string;
  label: string;
}

export const USAGE = `usage: npm run bench:felt -- [--turns server|detect] [--detector silero|hybrid] [--language auto|en|ko]
                          [--threads N] [--quick] [--unpunctuated] [--partials] [--plan] [--out DIR] [--label NAME]
  --turns     who ends a turn: the service (server, default) or the client after /ws/detect (detect)
  --detector  STT_DETECTOR for the stack (default hybrid)
  --language  STT_LANGUAGE for the stack (default auto)
  --threads   STT_THREADS for the stack (default: the stack's own)
  --quick     the first 4 turns only (English, Korean, a pause, the quiet turn)
  --unpunctuated  the synthetic models' sentence lacks its final "." (the service then waits
              end_of_turn_ms, not sentence_end_ms, after every turn)
  --partials  server turns: the client asks for live partial transcripts (compare with and without)
  --plan      print the conversation and the floor; start no stack
  --out       where felt-<label>.json and .md go (default bench/results)
  --label     name of the result files (default <turns>-<detector>-<language>[-quick])`;

function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T {
  if (value === undefined || !allowed.includes(value as T)) throw new Error(`${flag} must be one of ${allowed.join(', ')} (got ${value ?? 'nothing'})\n${USAGE}`);
  return value as T;
}

export function parseArgs(argv: string[]): FeltArgs {
  const values = new Map<string, string | undefined>();
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (['--quick', '--unpunctuated', '--partials', '--plan', '--help'].includes(a)) flags.add(a);
    else if (['--turns', '--detector', '--language', '--threads', '--out', '--label'].includes(a)) values.set(a, argv[++i]);
    else throw new Error(`unknown argument ${a}\n${USAGE}`);
  }
  if (flags.has('--help')) {
    console.log(USAGE);
    process.exit(0);
  }
  const turns = oneOf('--turns', values.get('--turns') ?? 'server', ['server', 'detect'] as const);
  const detector = oneOf('--detector', values.get('--detector') ?? 'hybrid', ['silero', 'hybrid'] as const);
  const language = oneOf('--language', values.get('--language') ?? 'auto', ['auto', 'en', 'ko'] as const);
  const rawThreads = values.get('--threads');
  const threads = rawThreads === undefined ? undefined : Number(rawThreads);
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) throw new Error(`--threads must be a whole number >= 1 (got ${rawThreads})`);
  const quick = flags.has('--quick');
  const unpunctuated = flags.has('--unpunctuated');
  const partials = flags.has('--partials');
  if (partials && turns !== 'server') throw new Error(`--partials needs --turns server\n${USAGE}`);
  const label =
    values.get('--label') ?? [turns, detector, language, ...(threads ? [`t${threads}`] : []), ...(unpunctuated ? ['unpunctuated'] : []), ...(partials ? ['partials'] : []), ...(quick ? ['quick'] : [])].join('-');
  if (!/^[\w.-]+$/.test(label)) throw new Error(`--label must be letters, digits, . _ - (got ${label})`);
  return { turns, detector, language, threads, quick, unpunctuated, partials, plan: flags.has('--plan'), out: values.get('--out') ?? 'bench/results', label };
}
