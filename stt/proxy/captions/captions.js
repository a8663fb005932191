// Captions for an OBS browser source: /captions?session=main, styled from the query string.
// Listens to /ws/events (a listener only) and reconnects by itself.
const q = new URLSearchParams(location.search);
const num = (name, fallback, min, max) => {
  const v = Number(q.get(name));
  return Number.isFinite(v) && q.get(name) !== null ? Math.min(max, Math.max(min, v)) : fallback;
};
// Only what CSS can take as it is: a colour or font name never breaks out of its declaration.
const safe = (name, fallback) => {
  const v = q.get(name);
  return v && /^[#\w\s,.'"()%-]{1,80}$/.test(v) ? v : fallback;
};
const style = {
  font: safe('font', '"Noto Sans CJK KR", "NanumGothic", "Noto Sans", sans-serif'),
  size: num('size', 42, 8, 200),
  color: safe('color', '#ffffff'),
  outline: safe('outline', '#000000'),
  outlineWidth: num('outline_width', 3, 0, 20),
  lines: num('lines', 2, 1, 10),
  fadeMs: num('fade', 4000, 0, 600000),
  position: ['top', 'middle', 'bottom'].includes(q.get('position')) ? q.get('position') : 'bottom',
  align: ['left', 'center', 'right'].includes(q.get('align')) ? q.get('align') : 'center',
};

const root = document.getElementById('captions');
root.className = style.position;
Object.assign(root.style, {
  fontFamily: style.font,
  fontSize: `${style.size}px`,
  color: style.color,
  textAlign: style.align,
  webkitTextStroke: style.outlineWidth ? `${style.outlineWidth}px ${style.outline}` : '',
  paintOrder: 'stroke fill',
});

/** The line of the turn in progress (partial or early text), and the seq it shows. */
let live;
let liveSeq;

function line() {
  const el = document.createElement('div');
  el.className = 'line';
  root.append(el);
  return el;
}

/** Keeps the last `lines` finals (and the live line): older ones leave at once. */
function trim() {
  const finals = [...root.querySelectorAll('.line.final')];
  for (const el of finals.slice(0, Math.max(0, finals.length - style.lines))) el.remove();
}

function showLive(seq, stable, rest) {
  if (!live || liveSeq !== seq) {
    live = line();
    liveSeq = seq;
  }
  live.replaceChildren(document.createTextNode(stable));
  if (rest) {
    const dim = document.createElement('span');
    dim.className = 'unstable';
    dim.textContent = rest;
    live.append(dim);
  }
}

function showFinal(seq, text) {
  const el = live && liveSeq === seq ? live : line();
  live = undefined;
  liveSeq = undefined;
  if (!text) return el.remove();
  el.classList.add('final');
  el.textContent = text;
  trim();
  if (style.fadeMs > 0) {
    setTimeout(() => el.classList.add('gone'), style.fadeMs);
    setTimeout(() => el.remove(), style.fadeMs + 1000);
  }
}

function onEvent(m) {
  if (m.type === 'partial') return showLive(m.seq, m.stable ?? '', (m.text ?? '').slice((m.stable ?? '').length));
  if (m.type === 'transcript' && m.final === false) return showLive(m.seq, '', m.text ?? '');
  if (m.type === 'transcript') return showFinal(m.seq, m.text ?? '');
  if (m.type === 'error' && typeof m.seq === 'number') return showFinal(m.seq, '');
}

let wait = 250;
function connect() {
  const url = new URL('/ws/events', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  url.searchParams.set('session', q.get('session') ?? 'main');
  if (q.get('key')) url.searchParams.set('api_key', q.get('key'));
  const ws = new WebSocket(url);
  ws.onopen = () => {
    wait = 250;
    document.body.dataset.state = 'connected';
  };
  ws.onmessage = (e) => onEvent(JSON.parse(e.data));
  ws.onclose = (e) => {
    // Refused for good (a bad session name): asking again would be refused again; say why instead.
    if (e.code === 1008) {
      document.body.dataset.state = 'refused';
      root.replaceChildren(Object.assign(document.createElement('div'), { className: 'line', textContent: `captions: ${e.reason}` }));
      return;
    }
    document.body.dataset.state = 'reconnecting';
    // Jittered: overlays that lost the stack together do not all come back in one wave.
    setTimeout(connect, wait * (0.7 + 0.3 * Math.random()));
    wait = Math.min(wait * 2, 10000);
  };
}
connect();
