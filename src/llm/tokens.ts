/**
 * Counting prompt tokens before a call. OpenAI models are counted with gpt-tokenizer (an optional peer
 * dependency; its BPE tables ship in the npm package, nothing is downloaded at run time), with the
 * cookbook's chat overhead: 4 tokens per message plus 2. Other models (Anthropic, Gemini: their
 * tokenizers are not published as packages) use the documented rule `ceil(characters / charsPerToken)`
 * (default 4 characters per token) plus the same per-message overhead. Without gpt-tokenizer
 * installed, OpenAI models fall back to that rule too.
 */

type Counter = (text: string) => number;
type Encoding = 'o200k_base' | 'cl100k_base';

const loaded = new Map<Encoding, Promise<Counter | undefined>>();

/** The BPE an OpenAI model uses: cl100k for the GPT-4 / 3.5 family, o200k for gpt-4o, 4.1, 5, o-series. */
export function openAiEncoding(model: string): Encoding | undefined {
  const m = model.toLowerCase();
  if (/^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o\d|chatgpt-4o|gpt-oss)/.test(m)) return 'o200k_base';
  if (/^(gpt-4|gpt-3\.5|text-embedding-3|text-embedding-ada)/.test(m)) return 'cl100k_base';
  return undefined;
}

function loadCounter(encoding: Encoding): Promise<Counter | undefined> {
  let counter = loaded.get(encoding);
  if (!counter) {
    // Literal specifiers (bundlers resolve them; the package stays an optional peer).
    const module =
      encoding === 'o200k_base'
        ? import('gpt-tokenizer/encoding/o200k_base')
        : import('gpt-tokenizer/encoding/cl100k_base');
    counter = module.then(
      (m: { countTokens: Counter }) => (text: string) => m.countTokens(text),
      () => undefined, // not installed: the characters rule
    );
    loaded.set(encoding, counter);
  }
  return counter;
}

/** Tokens of `texts` (one entry per message or part) for `model`, with the chat overhead per message. */
export async function countPromptTokens(
  provider: string,
  model: string,
  texts: readonly string[],
  charsPerToken: number,
): Promise<{ tokens: number; method: 'tokenizer' | 'chars' }> {
  const overhead = texts.length > 0 ? texts.length * 4 + 2 : 0;
  const encoding = provider === 'openai' ? openAiEncoding(model) : undefined;
  const counter = encoding ? await loadCounter(encoding) : undefined;
  if (counter) {
    let tokens = overhead;
    for (const text of texts) tokens += counter(text);
    return { tokens, method: 'tokenizer' };
  }
  return { tokens: overhead + charsToTokens(texts, charsPerToken), method: 'chars' };
}

/** The characters rule: `ceil(total characters / charsPerToken)`. */
export function charsToTokens(texts: readonly string[], charsPerToken: number): number {
  let chars = 0;
  for (const text of texts) chars += text.length;
  return Math.ceil(chars / charsPerToken);
}

/** Every string inside a JSON value (message contents, tool arguments...), depth-first. */
export function stringsOf(value: unknown, into: string[] = [], depth = 0): string[] {
  if (depth > 32) return into;
  if (typeof value === 'string') into.push(value);
  else if (Array.isArray(value)) for (const v of value) stringsOf(v, into, depth + 1);
  else if (typeof value === 'object' && value !== null)
    for (const v of Object.values(value)) stringsOf(v, into, depth + 1);
  return into;
}
