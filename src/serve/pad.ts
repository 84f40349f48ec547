/**
 * The draw-and-correct pad (GET /): the tkinter GUI of seed 003 as one self-contained page.
 * Draw with a mouse, pen or finger (Pointer Events); while drawing, the canvas is sent as a
 * PNG to /v1/predict (debounced), which centres it the MNIST way and answers with the label,
 * the per-class probabilities and the 28×28 image the members saw. If the label is wrong,
 * click (or type) the right digit: the image, the given label and the prediction are
 * appended to the corrections store (POST /v1/corrections). Enter (or ✓) says it was right.
 * The counter is this page session's running accuracy (correct / judged).
 *
 * Kept as a string in a module so the built CLI (dist/) carries it without a copy step; the
 * page loads nothing from elsewhere (the server's Content-Security-Policy forbids it).
 */
/**
 * The page, with its test-time augmentation box ticked as the server's default is (the
 * run's submission's choice): the page always says which it wants, so the box is what is used.
 */
export function padHtml(options: { tta: boolean }): string {
  return PAD_HTML.replace('<input id="tta" type="checkbox">', `<input id="tta" type="checkbox"${options.tta ? ' checked' : ''}>`);
}

const PAD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>digits — draw a digit</title>
<style>
  :root { color-scheme: light dark; --ink: #111; --paper: #fff; --bar: #3b82f6; --top: #16a34a; --muted: #6b7280; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background: #f3f4f6; color: #111; }
  @media (prefers-color-scheme: dark) { body { background: #111827; color: #e5e7eb; } .card { background: #1f2937 !important; } }
  main { max-width: 860px; margin: 0 auto; padding: 16px; display: grid; gap: 16px; grid-template-columns: minmax(260px, 340px) 1fr; }
  @media (max-width: 640px) { main { grid-template-columns: 1fr; } }
  h1 { grid-column: 1 / -1; margin: 0; font-size: 20px; font-weight: 600; }
  h1 small { color: var(--muted); font-weight: 400; font-size: 14px; }
  .card { background: #fff; border-radius: 12px; padding: 14px; box-shadow: 0 1px 3px rgba(0,0,0,.12); }
  #pad { width: 100%; aspect-ratio: 1; touch-action: none; background: var(--paper); border: 2px solid #9ca3af; border-radius: 8px; cursor: crosshair; display: block; }
  .row { display: flex; gap: 8px; align-items: center; margin-top: 10px; flex-wrap: wrap; }
  button { font: inherit; padding: 6px 12px; border-radius: 8px; border: 1px solid #9ca3af; background: #f9fafb; color: #111; cursor: pointer; }
  button:hover { background: #e5e7eb; }
  button:disabled { opacity: .45; cursor: default; }
  #verdict { display: flex; align-items: baseline; gap: 12px; min-height: 72px; }
  #label { font-size: 64px; font-weight: 700; line-height: 1; min-width: 48px; }
  #confidence { color: var(--muted); }
  #seen { width: 56px; height: 56px; image-rendering: pixelated; border: 1px solid #9ca3af; background: #000; margin-left: auto; }
  #bars { display: grid; grid-template-columns: 18px 1fr 56px; gap: 4px 8px; align-items: center; margin: 8px 0 4px; }
  .track { height: 14px; background: rgba(127,127,127,.18); border-radius: 4px; overflow: hidden; }
  .fill { height: 100%; width: 0; background: var(--bar); transition: width .12s; }
  .fill.top { background: var(--top); }
  .pct { text-align: right; font-variant-numeric: tabular-nums; color: var(--muted); font-size: 13px; }
  #digits { display: grid; grid-template-columns: repeat(5, 1fr); gap: 6px; margin-top: 8px; }
  #digits button { font-size: 18px; font-weight: 600; padding: 8px 0; }
  #right { background: #dcfce7; border-color: #16a34a; }
  .line { margin: 10px 0 0; }
  #counter { font-variant-numeric: tabular-nums; font-size: 16px; }
  #status { min-height: 1.4em; color: var(--muted); }
  #status.error { color: #dc2626; }
  #members { color: var(--muted); font-size: 13px; }
  kbd { font: 12px ui-monospace, monospace; border: 1px solid #9ca3af; border-radius: 4px; padding: 0 4px; }
  /* A phone: the pad, the label, ✓ and the digits fit one screen (360×640 had the label at 572 px
     and the digits at 978 px, below the fold after every drawing); the bars follow below. */
  @media (max-width: 640px) {
    main { padding: 8px; gap: 8px; }
    h1 { font-size: 17px; }
    h1 small, #keys { display: none; }
    .card { padding: 10px; }
    #pad { width: min(100%, 42vh); margin: 0 auto; }
    .row { margin-top: 6px; }
    .line { margin-top: 6px; }
    #verdict { min-height: 52px; }
    #label { font-size: 48px; }
    #seen { width: 44px; height: 44px; }
    #digits button { padding: 6px 0; }
    #answer { display: flex; flex-direction: column; }
    #bars, #members { order: 1; }
  }
</style>
</head>
<body data-state="idle">
<main>
  <h1>digits <small>draw a digit; if the ensemble gets it wrong, click the right one</small></h1>
  <section class="card">
    <canvas id="pad" width="280" height="280" aria-label="drawing pad"></canvas>
    <div class="row">
      <button id="clear" type="button" title="Esc">Clear</button>
      <label><input id="tta" type="checkbox"> test-time augmentation</label>
    </div>
    <p id="counter" class="line" aria-live="polite">This session: <span id="correct">0</span>&nbsp;/&nbsp;<span id="judged">0</span>&nbsp;right <span id="accuracy"></span></p>
    <p id="keys" class="line" style="color:var(--muted);font-size:13px">Keys: <kbd>0</kbd>–<kbd>9</kbd> the right digit, <kbd>Enter</kbd> it was right, <kbd>Esc</kbd> clear</p>
  </section>
  <section id="answer" class="card">
    <div id="verdict"><span id="label">·</span><span id="confidence">draw a digit</span><canvas id="seen" width="28" height="28" title="what the ensemble saw (28×28, centred like MNIST)"></canvas></div>
    <div id="bars"></div>
    <div id="members"></div>
    <div class="row"><strong>Is it right?</strong> <button id="right" type="button" disabled title="Enter">✓ Right</button> <span>or click the right digit:</span></div>
    <div id="digits"></div>
    <p id="status" class="row" role="status"></p>
  </section>
</main>
<script>
(function () {
  'use strict';
  var pad = document.getElementById('pad');
  var ctx = pad.getContext('2d');
  var seen = document.getElementById('seen');
  var bars = document.getElementById('bars');
  var fills = [], pcts = [], digitButtons = [];
  var state = { drawn: false, dirty: false, drawing: false, last: null, seq: 0, shown: 0, timer: null, inflight: null, judged: 0, correct: 0, saved: 0, judging: false };

  for (var d = 0; d < 10; d++) {
    var name = document.createElement('span'); name.textContent = String(d);
    var track = document.createElement('div'); track.className = 'track';
    var fill = document.createElement('div'); fill.className = 'fill'; track.appendChild(fill);
    var pct = document.createElement('span'); pct.className = 'pct'; pct.textContent = '';
    bars.appendChild(name); bars.appendChild(track); bars.appendChild(pct);
    fills.push(fill); pcts.push(pct);
    var b = document.createElement('button'); b.type = 'button'; b.textContent = String(d); b.dataset.digit = String(d); b.disabled = true;
    b.addEventListener('click', judgeWith(d));
    document.getElementById('digits').appendChild(b); digitButtons.push(b);
  }

  function setState(s) { document.body.dataset.state = s; }
  // A server started with --token wants it on writes; the pad takes it from its address (#token=…, never sent to the server in the URL).
  var token = (/(?:^#|&)token=([^&]+)/.exec(location.hash) || [])[1];
  function correctionHeaders() {
    var headers = { 'content-type': 'application/json' };
    if (token) headers.authorization = 'Bearer ' + decodeURIComponent(token);
    return headers;
  }
  function status(text, isError) { var el = document.getElementById('status'); el.textContent = text; el.className = 'row' + (isError ? ' error' : ''); }

  function clearPad() {
    ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, pad.width, pad.height);
    state.drawn = false; state.dirty = false; state.last = null; state.inflight = null; state.seq++;
    if (state.timer) { clearTimeout(state.timer); state.timer = null; }
    document.getElementById('label').textContent = '·';
    document.getElementById('confidence').textContent = 'draw a digit';
    document.getElementById('members').textContent = '';
    seen.getContext('2d').clearRect(0, 0, 28, 28);
    for (var i = 0; i < 10; i++) { fills[i].style.width = '0'; fills[i].className = 'fill'; pcts[i].textContent = ''; }
    enableJudging(false);
    setState('idle');
  }

  function enableJudging(on) {
    document.getElementById('right').disabled = !on;
    for (var i = 0; i < 10; i++) digitButtons[i].disabled = !on;
  }

  /* drawing: Pointer Events cover mouse, pen and touch */
  var prev = null;
  function point(e) {
    var r = pad.getBoundingClientRect();
    return { x: (e.clientX - r.left) * pad.width / r.width, y: (e.clientY - r.top) * pad.height / r.height };
  }
  function stroke(a, b) {
    ctx.strokeStyle = '#111'; ctx.fillStyle = '#111';
    ctx.lineWidth = pad.width / 13; ctx.lineCap = 'round'; ctx.lineJoin = 'round';
    ctx.beginPath();
    // A tap (or a stroke's first point) is a dot: canvas draws nothing for a zero-length line, even with round caps.
    if (a.x === b.x && a.y === b.y) { ctx.arc(a.x, a.y, ctx.lineWidth / 2, 0, 2 * Math.PI); ctx.fill(); }
    else { ctx.moveTo(a.x, a.y); ctx.lineTo(b.x, b.y); ctx.stroke(); }
    state.drawn = true; state.dirty = true;
  }
  pad.addEventListener('pointerdown', function (e) {
    e.preventDefault();
    if (pad.setPointerCapture) { try { pad.setPointerCapture(e.pointerId); } catch (err) { /* synthetic pointers */ } }
    state.drawing = true; prev = point(e); stroke(prev, prev); schedulePredict();
  });
  pad.addEventListener('pointermove', function (e) {
    if (!state.drawing) return;
    e.preventDefault();
    var p = point(e); stroke(prev, p); prev = p; schedulePredict();
  });
  function endStroke() { if (!state.drawing) return; state.drawing = false; prev = null; predictNow(); }
  pad.addEventListener('pointerup', endStroke);
  pad.addEventListener('pointercancel', endStroke);
  pad.addEventListener('lostpointercapture', endStroke);

  /* live prediction: at most one every 150 ms while drawing, at once when a stroke ends */
  function schedulePredict() {
    if (state.timer) return;
    state.timer = setTimeout(function () { state.timer = null; predictNow(); }, 150);
  }

  function canvasPng() {
    return new Promise(function (resolve) { pad.toBlob(resolve, 'image/png'); });
  }

  function predictNow() {
    if (state.timer) { clearTimeout(state.timer); state.timer = null; }
    if (!state.drawn) return Promise.resolve(null);
    var seq = ++state.seq;
    state.dirty = false;
    setState('predicting');
    var tta = document.getElementById('tta').checked;
    state.inflight = canvasPng().then(function (blob) {
      return fetch('/v1/predict?tta=' + (tta ? 'true' : 'false'), { method: 'POST', headers: { 'content-type': 'image/png' }, body: blob });
    }).then(function (res) {
      return res.json().then(function (body) { return { ok: res.ok, body: body }; });
    }).then(function (r) {
      if (seq !== state.seq) return state.last; // a newer drawing is on its way
      if (!r.ok) { status(r.body.error + (r.body.hint ? ' — ' + r.body.hint : ''), true); setState('error'); return null; }
      show(r.body.predictions[0]);
      return state.last;
    }).catch(function (err) {
      if (seq === state.seq) { status('prediction failed: ' + err.message, true); setState('error'); }
      return null;
    });
    return state.inflight;
  }

  function show(p) {
    state.last = p;
    var probs = p.probabilities;
    document.getElementById('label').textContent = String(p.label);
    document.getElementById('confidence').textContent = (probs[p.label] * 100).toFixed(1) + '% sure';
    for (var i = 0; i < 10; i++) {
      fills[i].style.width = (probs[i] * 100).toFixed(1) + '%';
      fills[i].className = 'fill' + (i === p.label ? ' top' : '');
      pcts[i].textContent = (probs[i] * 100).toFixed(1) + '%';
    }
    var votes = Object.keys(p.members).map(function (name) {
      var q = p.members[name], best = 0;
      for (var k = 1; k < q.length; k++) if (q[k] > q[best]) best = k;
      return name + ' ' + best;
    });
    document.getElementById('members').textContent = 'members: ' + votes.join(', ');
    if (p.input) {
      var image = seen.getContext('2d').createImageData(28, 28);
      for (var j = 0; j < 784; j++) { var v = p.input[j]; image.data[4 * j] = v; image.data[4 * j + 1] = v; image.data[4 * j + 2] = v; image.data[4 * j + 3] = 255; }
      seen.getContext('2d').putImageData(image, 0, 0);
    }
    enableJudging(true);
    status('');
    setState('predicted');
  }

  function updateCounter() {
    document.getElementById('correct').textContent = String(state.correct);
    document.getElementById('judged').textContent = String(state.judged);
    document.getElementById('accuracy').textContent = state.judged ? '(' + (100 * state.correct / state.judged).toFixed(1) + '%)' : '';
  }

  /* judging: the predicted digit (or Enter) = right; another digit = a correction to save */
  function judge(label) {
    if (!state.drawn) { status('draw a digit first'); return Promise.resolve(); }
    /* one judgement per drawing: a double-click, or a key pressed twice, saved the correction twice */
    if (state.judging) return Promise.resolve();
    state.judging = true;
    var ready = state.dirty ? predictNow() : (state.inflight || Promise.resolve(state.last));
    return ready.then(function (p) {
      if (!p) { state.judging = false; return; }
      if (label === null || label === p.label) {
        state.judged++; state.correct++; updateCounter();
        status('✓ ' + p.label + ' was right');
        clearPad();
        return;
      }
      setState('saving');
      return fetch('/v1/corrections', {
        method: 'POST', headers: correctionHeaders(),
        body: JSON.stringify({ image: p.input, label: label, predicted: p.label })
      }).then(function (res) {
        return res.json().then(function (body) {
          if (!res.ok) { status('not saved: ' + body.error + (body.hint ? ' — ' + body.hint : ''), true); setState('error'); return; }
          state.judged++; state.saved++; updateCounter();
          clearPad();
          status('saved: it was a ' + label + ' (the ensemble said ' + p.label + '); ' + state.saved + ' correction' + (state.saved === 1 ? '' : 's') + ' this session');
        });
      }).catch(function (err) { status('not saved: ' + err.message, true); setState('error'); });
    }).then(function () { state.judging = false; }, function () { state.judging = false; });
  }
  function judgeWith(d) { return function () { judge(d); }; }

  document.getElementById('right').addEventListener('click', function () { judge(null); });
  document.getElementById('clear').addEventListener('click', function () { clearPad(); status(''); });
  document.getElementById('tta').addEventListener('change', function () { if (state.drawn) predictNow(); });
  document.addEventListener('keydown', function (e) {
    var t = e.target;
    /* a focused button's Enter and Space are its own click (Enter on a focused 4 had said "it was right"); the
       TTA checkbox keeps Space and lets the pad's keys through (they did nothing once it had been clicked) */
    if (t && t.tagName === 'BUTTON' && (e.key === 'Enter' || e.key === ' ')) return;
    if (t && t.tagName === 'INPUT' && t.type !== 'checkbox') return;
    if (e.key >= '0' && e.key <= '9') { if (!document.getElementById('right').disabled) judge(Number(e.key)); }
    else if (e.key === 'Enter') { if (!document.getElementById('right').disabled) judge(null); }
    else if (e.key === 'Escape' || e.key === 'Backspace') { clearPad(); status(''); }
  });

  clearPad();
  updateCounter();
})();
</script>
</body>
</html>
`;
