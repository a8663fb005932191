export type Lang = 'ko' | 'en';

const STRINGS = {
  title: { ko: '음성 입력 제어판', en: 'Speech input control panel' },
  apiKeyPrompt: { ko: '이 스택은 API 키가 필요합니다. 키를 입력하세요 (이 브라우저에 저장됩니다):', en: 'This stack needs an API key. Enter it (it is kept in this browser):' },
  apiKeyWrong: { ko: 'API 키가 맞지 않습니다. 다시 입력하세요:', en: 'That API key was refused. Enter it again:' },
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
  theme: { ko: '테마', en: 'Theme' },
  themeAuto: { ko: '자동', en: 'Auto' },
  themeLight: { ko: '밝게', en: 'Light' },
  themeDark: { ko: '어둡게', en: 'Dark' },
  sessionsTitle: { ko: '세션', en: 'Sessions' },
  noSessions: { ko: '이름 있는 세션이 없습니다 (클라이언트에 ?session=main 을 붙이세요)', en: 'No named session yet (a client joins one with ?session=main)' },
  sessionName: { ko: '세션 이름', en: 'Session name' },
  watch: { ko: '보기', en: 'Watch' },
  listeners: { ko: '청취 {0}', en: '{0} listening' },
  live: { ko: '방송 중', en: 'live' },
  notLive: { ko: '마이크 없음', en: 'no microphone' },
  muted: { ko: '음소거됨', en: 'muted' },
  unmuted: { ko: '듣는 중', en: 'listening' },
  mute: { ko: '음소거', en: 'Mute' },
  unmute: { ko: '음소거 해제', en: 'Unmute' },
  muteFailed: { ko: '음소거를 바꾸지 못했습니다: {0}', en: 'Could not change the mute: {0}' },
  vtuberSpeaking: { ko: 'VTuber 말하는 중: {0}', en: 'VTuber speaking: {0}' },
  vtuberQuiet: { ko: 'VTuber 조용함', en: 'VTuber quiet' },
  interrupted: { ko: '끼어들기!', en: 'interrupted!' },
  captionsUrl: { ko: 'OBS 자막 URL (브라우저 소스)', en: 'Captions URL for OBS (browser source)' },
  captionsKeyNote: { ko: 'API 키를 쓰면 끝에 &key=<청취 전용 키>(STT_LISTEN_KEYS)를 붙이세요', en: 'With API keys on, add &key=<a listen-only key> (STT_LISTEN_KEYS)' },
  copy: { ko: '복사', en: 'Copy' },
  copied: { ko: '복사됨', en: 'Copied' },
  clear: { ko: '지우기', en: 'Clear' },
  exportText: { ko: '텍스트로 저장', en: 'Export text' },
  exportSrt: { ko: 'SRT로 저장', en: 'Export SRT' },
  historyTitle: { ko: '기록', en: 'Transcript' },
  historyEmpty: { ko: '아직 말한 내용이 없습니다', en: 'Nothing said yet' },
  estimatedWait: { ko: '≈{0} ms', en: '≈{0} ms' },
  estimatedWaitHint: {
    ko: '말이 끝난 뒤 최종 문장까지 기다린 시간(추정): 세션 오디오 시간의 침묵 대기 + speech_end부터 최종까지',
    en: 'Estimated wait from the end of speech to the final: the silence waited on the session\'s audio clock plus speech_end to final',
  },
  listenerLost: { ko: '세션 청취가 끊어졌습니다: {0}', en: 'Listening to the session stopped: {0}' },
  settingsTitle: { ko: '설정 (이 페이지의 마이크)', en: 'Settings (this page\'s microphone)' },
  language: { ko: '언어', en: 'Language' },
  languageDefault: { ko: '서비스 기본값', en: 'service default' },
  languageAuto: { ko: '자동 감지', en: 'detect' },
  prompt: { ko: '프롬프트 (고유명사, 용어)', en: 'Prompt (names, terms)' },
  endOfTurn: { ko: '턴 끝 침묵 (ms)', en: 'End-of-turn silence (ms)' },
  sentenceEnd: { ko: '문장이 끝났을 때 (ms)', en: 'After a finished sentence (ms)' },
  serviceDefault: { ko: '기본값', en: 'default' },
  microphone: { ko: '마이크', en: 'Microphone' },
  defaultMic: { ko: '기본 마이크', en: 'Default microphone' },
  micSession: { ko: '세션 이름 (비우면 비공개)', en: 'Session name (empty: private)' },
  nextStart: { ko: '마이크와 세션은 다음 시작부터 적용됩니다', en: 'Microphone and session apply from the next start' },
  applied: { ko: '적용됨: 언어 {0} · 턴 끝 {1} ms · 문장 끝 {2} ms', en: 'In force: language {0} · end of turn {1} ms · after a sentence {2} ms' },
  appliedFlush: { ko: '적용됨: 언어 {0} · 턴 끝은 이 페이지가 정합니다 (감지 + flush)', en: 'In force: language {0} · this page ends the turns (detect + flush)' },
  level: { ko: '입력 레벨', en: 'Input level' },
  peak: { ko: '최고 {0} dB', en: 'peak {0} dB' },
  waitTitle: { ko: '말이 끝난 뒤 기다린 시간', en: 'Wait after you stop speaking' },
  waitHint: {
    ko: '서비스가 감지한 말의 끝(이 페이지가 보낸 오디오 시계)부터 최종 문장이 화면에 뜰 때까지: 턴 끝 침묵 대기를 포함합니다',
    en: 'From the end of speech the service detected (on the clock of the audio this page sent) to the final on screen: includes the end-of-turn silence',
  },
  median: { ko: '중앙값 {0} ms', en: 'median {0} ms' },
  alsoDetect: { ko: '+ 음성 감지', en: '+ speech detection' },
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
  for (const el of document.querySelectorAll<HTMLElement>('[data-i18n-placeholder]')) el.setAttribute('placeholder', t(el.dataset.i18nPlaceholder as Key));
  for (const el of document.querySelectorAll<HTMLElement>('[data-i18n-title]')) el.title = t(el.dataset.i18nTitle as Key);
  for (const b of document.querySelectorAll<HTMLElement>('[data-lang]')) b.setAttribute('aria-pressed', String(b.dataset.lang === next));
}

export function t(key: Key, ...args: (string | number)[]): string {
  return args.reduce<string>((s, a, i) => s.replace(`{${i}}`, String(a)), STRINGS[key][lang]);
}
