export type Lang = 'ko' | 'en';

const STRINGS = {
  title: { ko: '음성 입력 제어판', en: 'Speech input control panel' },
  apiKeyPrompt: { ko: '이 스택은 API 키가 필요합니다. 키를 입력하세요 (이 브라우저에 저장됩니다):', en: 'This stack needs an API key. Enter it (it is kept in this browser):' },
  apiKeyWrong: { ko: 'API 키가 맞지 않습니다. 다시 입력하세요:', en: 'That API key was refused. Enter it again:' },
  gpuTitle: { ko: 'GPU 가속', en: 'GPU acceleration' },
  gpuLabel: { ko: 'GPU로 인식하기', en: 'Transcribe on the GPU' },
  statusTitle: { ko: '서비스 상태', en: 'Service status' },
  micTitle: { ko: '마이크 테스트', en: 'Microphone test' },
  micStart: { ko: '시작', en: 'Start' },
  micStop: { ko: '정지', en: 'Stop' },
  micMode: { ko: '발화 끝 판단', en: 'End of turn' },
  modeServer: { ko: '서버 (기본, 빠른 미리보기)', en: 'Server (default, early text)' },
  modeDetect: { ko: '클라이언트 (감지 + flush)', en: 'Client (detect + flush)' },
  early: { ko: '미리보기', en: 'early' },
  partial: { ko: '인식 중', en: 'live' },
  silent: { ko: '조용함', en: 'Silent' },
  speaking: { ko: '말하는 중', en: 'Speaking' },
  ready: { ko: '준비됨', en: 'ready' },
  loading: { ko: '로딩 중', en: 'loading' },
  down: { ko: '중단됨', en: 'down' },
  device: { ko: '장치', en: 'Device' },
  model: { ko: '모델', en: 'Model' },
  queue: { ko: '대기열', en: 'Queue' },
  latency: { ko: '지연 p50/p95', en: 'Latency p50/p95' },
  problem: { ko: '문제', en: 'Problem' },
  cpu: { ko: 'CPU 인식', en: 'CPU transcription' },
  gpu: { ko: 'GPU 인식', en: 'GPU transcription' },
  detect: { ko: '음성 감지', en: 'Speech detection' },
  routeTo: { ko: '새 연결은 {0} 으로 갑니다', en: 'New sessions go to {0}' },
  noGpu: { ko: 'GPU 서비스가 설정되지 않았습니다', en: 'No GPU service is configured' },
  gpuNotReady: { ko: 'GPU 서비스가 준비되지 않아 CPU를 사용합니다', en: 'The GPU service is not ready: using the CPU' },
  proxyDown: { ko: '제어 서버에 연결할 수 없습니다: {0}', en: 'Cannot reach the control server: {0}' },
  micDenied: { ko: '마이크 사용이 거부되었습니다. 브라우저 설정에서 허용해 주세요.', en: 'Microphone access was denied. Allow it in the browser settings.' },
  micInsecure: {
    ko: "마이크는 https(또는 localhost)에서만 열립니다: 이 페이지를 https로 여세요 — docs/deployment.md의 'TLS'를 보세요",
    en: "The microphone needs https (or localhost): open this page over https — see docs/deployment.md 'TLS'",
  },
  micMissing: { ko: '마이크를 찾을 수 없습니다: {0}', en: 'No microphone could be opened: {0}' },
  connectionLost: { ko: '{0} 연결이 끊어졌습니다 ({1})', en: 'Connection to {0} lost ({1})' },
  serverError: { ko: '서버 오류: {0}', en: 'Server error: {0}' },
  toggleFailed: { ko: 'GPU 설정을 바꾸지 못했습니다: {0}', en: 'Could not change the GPU setting: {0}' },
  ms: { ko: '{0} ms', en: '{0} ms' },
} as const;

export type Key = keyof typeof STRINGS;

let lang: Lang = navigator.language.toLowerCase().startsWith('ko') ? 'ko' : 'en';

export function currentLang(): Lang {
  return lang;
}

export function setLang(next: Lang): void {
  lang = next;
  document.documentElement.lang = next;
  for (const el of document.querySelectorAll<HTMLElement>('[data-i18n]')) el.textContent = t(el.dataset.i18n as Key);
  for (const b of document.querySelectorAll<HTMLElement>('[data-lang]')) b.setAttribute('aria-pressed', String(b.dataset.lang === next));
}

export function t(key: Key, ...args: (string | number)[]): string {
  return args.reduce<string>((s, a, i) => s.replace(`{${i}}`, String(a)), STRINGS[key][lang]);
}
