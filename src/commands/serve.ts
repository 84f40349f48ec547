import { Flags } from '@oclif/core';
import { DigitsCommand } from '../cli/base-command.js';
import { backendFlag, inferFlag, jsonFlag } from '../cli/flags.js';
import { resolveRunDir } from '../cli/runs.js';
import type { BackendRequest } from '../engine/backend.js';
import type { InferMode, Precision } from '../inference/predictor.js';
import { UserError } from '../errors.js';
import { onStopSignals } from '../signals.js';

export default class Serve extends DigitsCommand {
  static override summary = 'Serve a trained ensemble over HTTP, with the draw-and-correct pad at /.';

  static override description = [
    'Opens every member of the run once (ONNX Runtime sessions unless --infer tfjs, in --workers worker threads so inference never blocks the HTTP thread) and answers:',
    '  POST /v1/predict      JSON {"images": [[784 values]]} or a PNG/JPEG of any size (centred like MNIST); ?tta=true&members=a,b',
    '  POST /v1/corrections  {"image": [784], "label": 0-9, "predicted": 0-9}, appended to the corrections file',
    '  GET  /                the drawing pad;  GET /v1/model, /healthz, /metrics (Prometheus)',
    'Concurrent requests arriving within --batch-window-ms run as one batch. SIGTERM, Ctrl-C or a hang-up (the terminal closing) finishes the requests in flight (for up to --grace-period seconds), then exits 0; if any had to be cut, they are named and the exit code is 1.',
    'Limits: one --body-limit for a whole request, at most --max-batch images a request (JSON images or files, and at most 16 files) and 4 megapixels an image (from its header, before decoding); corrections are rate-limited (refused attempts count), checked for Host/Origin (loopback or --allowed-origin), and need --token when set (required beyond loopback). Pages on an --allowed-origin may call /v1/predict and /v1/corrections from the browser (CORS); other origins get no CORS headers.',
  ].join('\n');

  static override examples = [
    '<%= config.bin %> serve',
    '<%= config.bin %> serve --run runs/quick-20261121-101500 --port 8080',
    "curl -s localhost:8080/v1/predict -H 'content-type: image/png' --data-binary @digit.png",
    '<%= config.bin %> serve --host 0.0.0.0 --token "$(openssl rand -hex 16)" --max-batch 512 --batch-window-ms 5 --corrections my-corrections.jsonl',
    '<%= config.bin %> serve --workers 0 --threads 4   # in process: one session of 4 threads per member',
  ];

  static override flags = {
    ...backendFlag,
    ...inferFlag,
    ...jsonFlag,
    run: Flags.string({ description: 'Run folder to serve (default: the newest under runs/).' }),
    port: Flags.integer({ description: 'TCP port (0 picks a free one).', default: 8080, min: 0, max: 65535, env: 'DIGITS_PORT' }),
    host: Flags.string({ description: 'Interface to listen on (0.0.0.0 for every interface).', default: '127.0.0.1' }),
    'max-batch': Flags.integer({ description: 'Most images in one inference batch (and in one request).', default: 256, min: 1, max: 4096 }),
    'batch-window-ms': Flags.integer({ description: 'How long a batch waits for more concurrent requests, in ms.', default: 3, min: 0, max: 1000 }),
    workers: Flags.integer({
      description: 'Inference worker threads for members on ONNX Runtime, each with a session of every member (default: one per core); 0 runs them on the HTTP thread.',
      min: 0,
      max: 256,
      env: 'DIGITS_SERVE_WORKERS',
    }),
    threads: Flags.integer({
      description: 'ONNX Runtime threads per member session (default: 1 in each worker; with --workers 0, cores − 1, leaving a core for HTTP).',
      min: 1,
      max: 256,
    }),
    corrections: Flags.string({ description: 'Corrections file (JSON lines) the pad appends to (default <run>/corrections.jsonl).' }),
    'grace-period': Flags.integer({ description: 'Seconds SIGTERM/Ctrl-C waits for requests in flight before cutting them (then the exit code is 1).', default: 30, min: 0, max: 3600 }),
    'body-limit': Flags.integer({ description: 'Largest request body in MiB, whatever its encoding (multipart counted whole).', default: 8, min: 1, max: 256 }),
    'min-body-rate': Flags.integer({ description: 'Slowest a request body may arrive, in KiB/s averaged from its start once --body-grace has passed; slower ones get a 408 (a trickling upload holds a share of the upload budget).', default: 16, min: 1, max: 1_048_576 }),
    'body-grace': Flags.integer({ description: 'Seconds a request body may take at any speed before --min-body-rate applies.', default: 10, min: 1, max: 3600 }),
    token: Flags.string({ description: 'Bearer token that saving corrections needs (required with a --host beyond loopback); the pad takes it as /#token=<token>.', env: 'DIGITS_SERVE_TOKEN' }),
    'allowed-origin': Flags.string({ description: 'Another origin (scheme://host:port) whose pages may predict and save corrections from the browser (CORS); repeatable.', multiple: true }),
    'corrections-per-minute': Flags.integer({ description: 'Attempts to save a correction one client address may make per minute (refused ones, e.g. a wrong token, count too).', default: 30, min: 1, max: 100000 }),
    'log-level': Flags.string({ description: 'Request log (pino JSON lines on stderr) level.', default: 'info', options: ['silent', 'error', 'warn', 'info', 'debug'] }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Serve);
    // tfjs, fastify and ONNX Runtime load here, not when oclif reads the command (help, manifest).
    const [{ initEngine }, { defaultServeWorkers, loadServedEnsemble }, { jsonLogLines, startServer }] = await Promise.all([
      import('../engine/backend.js'),
      import('../serve/ensemble.js'),
      import('../serve/server.js'),
    ]);
    const json = this.jsonEnabled();
    const runDir = await resolveRunDir(flags.run);
    await initEngine({ backend: flags.backend as BackendRequest });
    const say = (line: string) => {
      if (!json) process.stderr.write(`${line}\n`);
    };
    const ensemble = await loadServedEnsemble(runDir, { infer: flags.infer as InferMode, precision: flags.precision as Precision, threads: flags.threads, workers: flags.workers ?? defaultServeWorkers() });
    let server;
    try {
      server = await startServer({
        ensemble,
        host: flags.host,
        port: flags.port,
        maxBatch: flags['max-batch'],
        batchWindowMs: flags['batch-window-ms'],
        correctionsFile: flags.corrections,
        bodyLimit: flags['body-limit'] * 1024 * 1024,
        minBodyBytesPerSecond: flags['min-body-rate'] * 1024,
        slowBodyGraceMs: flags['body-grace'] * 1000,
        token: flags.token,
        allowedOrigins: flags['allowed-origin'],
        correctionsPerMinute: flags['corrections-per-minute'],
        logger: flags['log-level'] === 'silent' ? false : { level: flags['log-level'], stream: process.stderr },
        // Under --json, stderr holds only JSON lines: the server's own reports too.
        ...(json ? { log: jsonLogLines() } : {}),
      });
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'EADDRINUSE') throw new UserError(`port ${flags.port} on ${flags.host} is already in use`, { where: { flag: 'port' }, hint: 'Stop the other server, or pick another port (--port 0 picks a free one).' });
      if (code === 'EACCES') throw new UserError(`not allowed to listen on ${flags.host}:${flags.port}`, { where: { flag: 'port' }, hint: 'Ports below 1024 need privileges; use --port 8080.' });
      if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new UserError(`cannot listen on ${flags.host}: no such interface`, { where: { flag: 'host' }, hint: 'Use 127.0.0.1 (this machine only) or 0.0.0.0 (every interface).' });
      throw error;
    }
    // Graceful shutdown (SIGTERM, Ctrl-C, or SIGHUP when the terminal closes): stop accepting,
    // finish what is in flight, release sessions, exit 0. A second signal while draining, any
    // of them, ends at once: every listener goes after the first, so the next one falls through
    // to Node's default handler (an `once` per signal left the others caught, and SIGINT after
    // SIGTERM was ignored). The listeners are in place before "listening" is printed: a
    // supervisor that sends SIGTERM as soon as it reads that line met the OS's default (death
    // by the signal, no drain) when it came between the write and the listeners.
    const stopped = new Promise<NodeJS.Signals>((resolve) => {
      const off = onStopSignals((received) => {
        off();
        resolve(received);
      });
    });
    const members = ensemble.members.map((m) => ({ name: m.name, preset: m.preset, runtime: m.predictor.kind, reason: m.predictor.reason }));
    const { mode, workers, threadsPerSession, reason } = ensemble.inference;
    if (json) {
      this.emitJson({ type: 'listening', url: server.url, port: server.port, run: runDir, members, inference: { mode, workers, threadsPerSession, reason }, tta: ensemble.tta, corrections: server.correctionsFile });
    } else {
      say(`digits serve: ${ensemble.members.length} member${ensemble.members.length === 1 ? '' : 's'} of ${runDir}`);
      const nameWidth = Math.max(14, ...members.map((m) => m.name.length), ...ensemble.skipped.map((s) => s.name.length));
      for (const m of members) say(`  ${m.name.padEnd(nameWidth)} ${m.preset.padEnd(9)} ${m.reason}`);
      for (const s of ensemble.skipped) say(`  ${s.name.padEnd(nameWidth)} not served: ${s.reason}`);
      say(
        mode === 'workers'
          ? `  inference: ${workers} worker thread${workers === 1 ? '' : 's'}, ${threadsPerSession} ONNX Runtime thread${threadsPerSession === 1 ? '' : 's'} per session`
          : `  inference: in process (${reason})${threadsPerSession ? `, ${threadsPerSession} ONNX Runtime thread${threadsPerSession === 1 ? '' : 's'} per session` : ''}`,
      );
      say(`  TTA: ${ensemble.tta.default ? 'on' : 'off'} unless a request says (tta=true|false), ${ensemble.tta.reason}`);
      say(`  batching: up to ${flags['max-batch']} images, window ${flags['batch-window-ms']} ms, ${server.batcher.concurrency} batch${server.batcher.concurrency === 1 ? '' : 'es'} at once; corrections → ${server.correctionsFile}`);
      say(`listening on ${server.url}  (drawing pad: ${server.url}/ ; Ctrl-C stops)`);
    }
    const signal = await stopped;
    const inFlight = server.inFlight();
    say(`${signal}: finishing ${inFlight} request${inFlight === 1 ? '' : 's'} in flight (up to ${flags['grace-period']} s), then stopping`);
    const report = await server.close({ graceMs: flags['grace-period'] * 1000 });
    // (a shutdown that cut requests ends in an error line, as its exit code 1 says: a result line beside it read as success)
    if (json && report.cut.length > 0) {
      this.emitJson({ type: 'error', error: `${report.cut.length} request${report.cut.length === 1 ? ' was' : 's were'} cut: the ${flags['grace-period']} s grace period ended before ${report.cut.length === 1 ? 'it was' : 'they were'} answered`, hint: 'A longer --grace-period lets slow requests finish.', where: null, stopped: signal, finished: report.finished, cut: report.cut.length });
    } else if (json) this.printJson({ stopped: signal, finished: report.finished, cut: report.cut.length });
    else say(`stopped: ${report.finished} finished${report.cut.length ? `, ${report.cut.length} cut (named above)` : ''}`);
    // Cut requests are a failed shutdown: say so in the exit code.
    if (report.cut.length > 0) this.exit(1);
  }
}
