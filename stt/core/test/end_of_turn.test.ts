import { describe, expect, it } from 'vitest';
import { EndOfTurnPolicy } from '../src/turns/end_of_turn.js';
import { DEFAULT_TURNS } from '../src/turns/settings.js';

describe('end-of-turn policy', () => {
  const settings = { ...DEFAULT_TURNS, endOfTurnMs: 700, sentenceEndMs: 450 };

  it('waits the long silence until a speculative decode says the text ends a sentence, and again once speech resumes', () => {
    const policy = new EndOfTurnPolicy(settings);
    expect(policy.silenceMs).toBe(700);
    policy.speculated('so I was thinking');
    expect(policy.silenceMs).toBe(700);
    policy.speculated('That is all.');
    expect(policy.silenceMs).toBe(450);
    policy.speech();
    expect(policy.silenceMs).toBe(700);
  });

  it('keeps the long wait for a trailing ellipsis and an empty decode', () => {
    const policy = new EndOfTurnPolicy(settings);
    policy.speculated('well...');
    expect(policy.silenceMs).toBe(700);
    policy.speculated('');
    expect(policy.silenceMs).toBe(700);
  });

  it('follows a config message that changes the waits', () => {
    const policy = new EndOfTurnPolicy(settings);
    policy.speculated('Done!');
    policy.configure({ ...settings, sentenceEndMs: 300, endOfTurnMs: 900 });
    expect(policy.silenceMs).toBe(300);
    policy.speech();
    expect(policy.silenceMs).toBe(900);
  });
});
