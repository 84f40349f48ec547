/** The live training view on a real (pseudo-)terminal: keys typed meanwhile, Ctrl-C, the terminal afterwards. */
import { describe, expect, test } from 'vitest';
import { repoRoot, runScriptOnTerminal, stripAnsi } from '../helpers/pty.js';

describe('live view on a terminal', () => {
  test('keys typed while it is up are not echoed into it; Ctrl-C still interrupts (130); the terminal is restored', async () => {
    // Given the live view on a terminal, echo switched off once it is up
    // When Enter and letters are typed, then Ctrl-C
    const result = await runScriptOnTerminal(new URL('./live-fixture.tsx', import.meta.url), {
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

  test('Ctrl-Z stops the job with the terminal given back; continued, the view is drawn again and keys work', async () => {
    // Given the live view on a terminal
    // When Ctrl-Z is typed, and the stopped job is continued (as the shell's fg does), and then Ctrl-C
    const result = await runScriptOnTerminal(new URL('./live-fixture.tsx', import.meta.url), {
      steps: [
        { waitFor: 'digits train: fixture', echoOff: true, send: '\u001A' },
        { stopped: true, signal: 'CONT' },
        { waitFor: 'digits train: fixture', echoOff: true, send: '\u0003' },
      ],
      jobControl: true,
      timeout: 20,
    });
    // Then the process was stopped with the terminal as the shell had it (echo, line editing)
    expect(result.timedOut, stripAnsi(result.tty)).toBe(false);
    expect(result.pending).toBe(0);
    expect(result.lflagRestoredWhenStopped).toEqual([true]);
    // And continued, it drew the view again, read keys again (Ctrl-C: 130), and gave the terminal back
    expect(stripAnsi(result.tty).split('digits train: fixture').length).toBeGreaterThan(2);
    expect(result.exit).toBe(130);
    expect(result.lflagRestored).toBe(true);
  });

  test('when training ends, the terminal is given back and the process ends by itself', async () => {
    // Given the live view on a terminal
    // When training ends (the view done) with nothing else left to do
    const result = await runScriptOnTerminal(new URL('./live-fixture.tsx', import.meta.url), { cwd: repoRoot, steps: [{ waitFor: 'digits train: fixture', echoOff: true, signal: 'USR2' }], timeout: 20 });
    // Then it exits 0 (stdin no longer holds it), the terminal as before
    expect(result.timedOut).toBe(false);
    expect(stripAnsi(result.tty)).toContain('trained');
    expect(result.exit).toBe(0);
    expect(result.lflagRestored).toBe(true);
  });
});
