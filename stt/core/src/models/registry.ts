/**
 * Whisper ggml models as whisper.cpp publishes them. SHA-1 from whisper.cpp's models/README;
 * SHA-256 where independent published manifests agree on it (both are checked when present).
 */
export interface ModelEntry {
  name: string;
  file: string;
  bytes?: number;
  sha1: string;
  sha256?: string;
  /** The founding document's roles: tiny detects, base transcribes; larger ones are for GPUs. */
  note: string;
}

export const DEFAULT_MODEL_BASE_URL = 'https://huggingface.co/ggerganov/whisper.cpp/resolve/main';

export const MODELS: readonly ModelEntry[] = [
  { name: 'tiny', file: 'ggml-tiny.bin', bytes: 77_691_713, sha1: 'bd577a113a864445d4c299885e0cb97d4ba92b5f', sha256: 'be07e048e1e599ad46341c8d2a135645097a538221678b7acdd1b1919c6e1b21', note: 'speech detection second opinion; fastest' },
  { name: 'tiny.en', file: 'ggml-tiny.en.bin', bytes: 77_704_715, sha1: 'c78c86eb1a8faa21b369bcd33207cc90d64ae9df', sha256: '921e4cf8686fdd993dcd081a5da5b6c365bfde1162e72b08d75ac75289920b1f', note: 'English only' },
  { name: 'base', file: 'ggml-base.bin', bytes: 147_951_465, sha1: '465707469ff3a37a2b9b8d8f89f2f99de7299dac', sha256: '60ed5bc3dd14eea856493d334349b405782ddcaf0028d4b5df4088345fba2efe', note: 'default on CPU (Korean and English)' },
  // Quantized by whisper.cpp's `quantize` (2-D weight matrices only). SHA-1 from the model card of
  // huggingface.co/ggerganov/whisper.cpp; SHA-256 where independent published manifests agree.
  // q8_0 decodes 3-12 % faster than f16 on a 2-core x86 CPU, q5_1 no faster (docs/measurements.md).
  { name: 'tiny-q8_0', file: 'ggml-tiny-q8_0.bin', bytes: 43_537_433, sha1: '19e8118f6652a650569f5a949d962154e01571d9', sha256: 'c2085835d3f50733e2ff6e4b41ae8a2b8d8110461e18821b09a15c40c42d1cca', note: 'tiny, 8-bit weights: 56 % of the memory' },
  { name: 'base-q8_0', file: 'ggml-base-q8_0.bin', bytes: 81_768_585, sha1: '7bb89bb49ed6955013b166f1b6a6c04584a20fbe', sha256: 'c577b9a86e7e048a0b7eada054f4dd79a56bbfa911fbdacf900ac5b567cbb7d9', note: 'base, 8-bit weights: 55 % of the memory, a little faster on CPU' },
  { name: 'base-q5_1', file: 'ggml-base-q5_1.bin', bytes: 59_707_625, sha1: 'a3733eda680ef76256db5fc5dd9de8629e62c5e7', sha256: '422f1ae452ade6f30a004d7e5c6a43195e4433bc370bf23fac9cc591f01a8898', note: 'base, 5-bit weights: smallest; no faster than f16 on x86' },
  { name: 'base.en', file: 'ggml-base.en.bin', bytes: 147_964_211, sha1: '137c40403d78fd54d454da0f9bd998f78703390c', sha256: 'a03779c86df3323075f5e796cb2ce5029f00ec8869eee3fdfb897afe36c6d002', note: 'English only' },
  { name: 'small', file: 'ggml-small.bin', bytes: 487_601_967, sha1: '55356645c2b361a969dfd0ef2c5a50d530afd8d5', sha256: '1be3a9b2063867b937e64e2ec7483364a79917e157fa98c5d94b5c1fffea987b', note: 'better accuracy; a fast CPU or any GPU' },
  { name: 'small-q8_0', file: 'ggml-small-q8_0.bin', bytes: 264_464_607, sha1: 'bcad8a2083f4e53d648d586b7dbc0cd673d8afad', sha256: '49c8fb02b65e6049d5fa6c04f81f53b867b5ec9540406812c643f177317f779f', note: 'small, 8-bit weights: 54 % of the memory' },
  { name: 'small.en', file: 'ggml-small.en.bin', bytes: 487_614_201, sha1: 'db8a495a91d927739e50b3fc1cc4c6b8f6c2d022', sha256: 'c6138d6d58ecc8322097e0f987c32f1be8bb0a18532a3f88f734d1bbf9c41e5d', note: 'English only' },
  { name: 'medium', file: 'ggml-medium.bin', sha1: 'fd9727b6e1217c2f614f9b698455c4ffd82463b4', sha256: '6c14d5adee5f86394037b4e4e8b59f1673b6cee10e3cf0b11bbdbee79c156208', note: 'GPU' },
  { name: 'large-v3', file: 'ggml-large-v3.bin', sha1: 'ad82bf6a9043ceed055076d0fd39f5f186ff8062', sha256: '64d182b440b98d5203c4f9bd541544d84c605196c4f7b845dfa11fb23594d1e2', note: 'GPU; most accurate' },
  { name: 'large-v3-turbo', file: 'ggml-large-v3-turbo.bin', sha1: '4af2b29d7ec73d781377bfd1758ca957a807e941', note: 'GPU; near large-v3 accuracy, much faster' },
  { name: 'large-v3-turbo-q5_0', file: 'ggml-large-v3-turbo-q5_0.bin', sha1: 'e050f7970618a659205450ad97eb95a18d69c9ee', note: 'GPU with little memory' },
];

export function findModel(name: string): ModelEntry | undefined {
  return MODELS.find((m) => m.name === name);
}

export function modelUrl(entry: ModelEntry, baseUrl = process.env.STT_MODEL_BASE_URL || DEFAULT_MODEL_BASE_URL): string {
  return `${baseUrl.replace(/\/+$/, '')}/${entry.file}`;
}
