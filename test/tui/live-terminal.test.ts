/** The live training view on a real (pseudo-)terminal: keys typed meanwhile, Ctrl-C, the terminal afterwards. */
import { describe, expect, test } from 'vitest';
import { repoRoot, runScriptOnTerminal, stripAnsi } from './pty.js';

describe('live view on a terminal', () => {
  test('keys typed while it is up are not echoed into it; Ctrl-C still interrupts (130); the terminal is restored', async () => {
    // Given the live view on a terminal, echo switched off once it is up
    // When Enter and letters are typed, then Ctrl-C
    const result = await runScriptOnTerminal('./live-fixture.tsx', {
      cwd: repoRoot,
      steps: [
        { waitFor: 'digits train: fixture', echoOff: true, send: 'hello\r\r' },
        // (the next frame: Ctrl-C on its own, as a person types it)
        { waitFor: 'digits train: fixture', send: '\u0003' },
      ],
      timeout: 20,
    });
    const screen = stripAnsi(result.tty);
    // Then nothing typed reached the screen
    expect(result.timedOut).toBe(false);
    expect(screen).not.toContain('hello');
    // and Ctrl-C went the way of SIGINT: the handler's last word, death by the signal
    expect(screen).toContain('interrupted: the work saved so far is kept');
    expect(result.exit).toBe(130);
    // and echo and line editing are back
    expect(result.lflagRestored).toBe(true);
  });

  test('when training ends, the terminal is given back and the process ends by itself', async () => {
    // Given the live view on a terminal
    // When training ends (the view done) with nothing else left to do
    const result = await runScriptOnTerminal('./live-fixture.tsx', { cwd: repoRoot, steps: [{ waitFor: 'digits train: fixture', echoOff: true, signal: 'USR2' }], timeout: 20 });
    // Then it exits 0 (stdin no longer holds it), the terminal as before
    expect(result.timedOut).toBe(false);
    expect(stripAnsi(result.tty)).toContain('trained');
    expect(result.exit).toBe(0);
    expect(result.lflagRestored).toBe(true);
  });
});
