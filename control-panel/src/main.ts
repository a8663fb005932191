import { getStatus, setGpu } from './api.js';
import { currentLang, setLang, t, type Lang } from './i18n.js';
import { LatencyChart } from './latency_chart.js';
import { MicTest, type MicMode } from './mic_test.js';
import { renderCards } from './status_cards.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const banner = $<HTMLParagraphElement>('banner');
const toggle = $<HTMLInputElement>('gpu-toggle');
const route = $<HTMLParagraphElement>('route');
const chart = new LatencyChart($<HTMLCanvasElement>('chart'));

function showError(message: string | undefined): void {
  banner.hidden = !message;
  banner.textContent = message ?? '';
}

let lastStatus: Awaited<ReturnType<typeof getStatus>> | undefined;

function renderRoute(): void {
  if (!lastStatus) return;
  const s = lastStatus;
  toggle.checked = s.gpu_enabled;
  toggle.disabled = !s.gpu_available;
  const where = t(s.transcribe_route === 'gpu' ? 'gpu' : 'cpu');
  route.textContent = !s.gpu_available ? t('noGpu') : s.gpu_enabled && s.transcribe_route !== 'gpu' ? t('gpuNotReady') : t('routeTo', where);
}

async function refresh(): Promise<void> {
  try {
    lastStatus = await getStatus();
    renderCards($('cards'), lastStatus);
    renderRoute();
    if (banner.dataset.source === 'status') showError(undefined);
  } catch (error) {
    banner.dataset.source = 'status';
    showError(t('proxyDown', (error as Error).message));
  }
}

toggle.addEventListener('change', async () => {
  try {
    await setGpu(toggle.checked);
    await refresh();
  } catch (error) {
    banner.dataset.source = 'toggle';
    showError(t('toggleFailed', (error as Error).message));
    toggle.checked = !toggle.checked;
  }
});

const speaking = $<HTMLSpanElement>('speaking');
const transcripts = $<HTMLOListElement>('transcripts');
const start = $<HTMLButtonElement>('mic-start');
const stop = $<HTMLButtonElement>('mic-stop');
const mode = $<HTMLSelectElement>('mic-mode');
/** This run's utterances by seq: early text is shown in its line until the final replaces it. */
let lines = new Map<number, HTMLLIElement>();

function line(seq: number): HTMLLIElement {
  let li = lines.get(seq);
  if (!li) {
    li = document.createElement('li');
    const text = document.createElement('span');
    text.className = 'text';
    const latency = document.createElement('span');
    latency.className = 'latency';
    li.append(text, latency);
    transcripts.prepend(li);
    lines.set(seq, li);
  }
  return li;
}

const mic = new MicTest({
  speaking(on) {
    speaking.dataset.speaking = String(on);
    $('speaking-label').textContent = t(on ? 'speaking' : 'silent');
  },
  partial(seq, message) {
    if (!message.text) return;
    const li = line(seq);
    li.dataset.final = 'partial';
    const stable = document.createElement('span');
    stable.className = 'stable';
    stable.textContent = message.stable;
    const rest = document.createElement('span');
    rest.className = 'unstable';
    rest.textContent = message.text.slice(message.stable.length);
    li.querySelector('.text')!.replaceChildren(stable, rest);
    li.querySelector('.latency')!.textContent = t('partial');
  },
  early(seq, message) {
    if (!message.text) return;
    const li = line(seq);
    li.dataset.final = 'false';
    li.querySelector('.text')!.textContent = message.text;
    li.querySelector('.latency')!.textContent = t('early');
  },
  final(seq, answer, latencyMs) {
    if (answer.type === 'error') {
      banner.dataset.source = 'mic';
      showError(t('serverError', answer.error));
    }
    // An utterance with no words in it (a click taken for speech) is not shown; nor is one that failed.
    if (answer.type === 'error' || !answer.text) {
      lines.get(seq)?.remove();
      lines.delete(seq);
      return;
    }
    const li = line(seq);
    lines.delete(seq);
    li.dataset.final = 'true';
    li.querySelector('.text')!.textContent = answer.text;
    li.querySelector('.latency')!.textContent = `${answer.language} · ${t('ms', latencyMs)}`;
    chart.add(latencyMs);
  },
  error(kind, detail) {
    banner.dataset.source = 'mic';
    showError(kind === 'denied' ? t('micDenied') : kind === 'missing' ? t('micMissing', detail) : kind === 'insecure' ? t('micInsecure') : kind === 'lost' ? t('connectionLost', detail.split(':')[0]!, detail) : t('serverError', detail));
  },
});
start.addEventListener('click', async () => {
  start.disabled = true;
  mode.disabled = true;
  lines = new Map();
  try {
    await mic.start(mode.value as MicMode);
    stop.disabled = false;
  } catch {
    start.disabled = false;
    mode.disabled = false;
  }
});
stop.addEventListener('click', async () => {
  stop.disabled = true;
  await mic.stop();
  start.disabled = false;
  mode.disabled = false;
});

for (const b of document.querySelectorAll<HTMLButtonElement>('[data-lang]')) {
  b.addEventListener('click', () => {
    setLang(b.dataset.lang as Lang);
    renderRoute();
    if (lastStatus) renderCards($('cards'), lastStatus);
  });
}
setLang(currentLang());
void refresh();
setInterval(() => void refresh(), 2000);
