/**
 * The live training view as a command mounts it, for live-terminal.test.ts to run on a
 * pseudo-terminal: mounted at once; SIGINT handled as the commands' exitOnInterrupt does (the
 * view done, a last word, death by the signal); SIGUSR2 ends it as a finished training does.
 */
import { TrainView } from '../../src/tui/TrainView.js';
import { mountLive } from '../../src/tui/live.js';
import { initialState, reduce, type TrainViewState } from '../../src/tui/train-state.js';

let state = initialState('digits train: fixture', 'wasm', [{ name: 'alpha', epochs: 3 }]);
state = reduce(state, { type: 'start', member: 'alpha', epochs: 3, batches: 10, trainRows: 640, validationRows: 60, resumedAt: 0 });
const live = mountLive((s: TrainViewState) => TrainView({ state: s }), state);
const stop = () => {
  live.done();
  process.stderr.write('interrupted: the work saved so far is kept\n');
  process.kill(process.pid, 'SIGINT');
};
process.once('SIGINT', stop);
process.once('SIGUSR2', () => {
  process.removeListener('SIGINT', stop);
  live.done();
  process.stderr.write('trained\n');
});
