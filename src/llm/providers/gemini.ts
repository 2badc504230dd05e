import { stringsOf } from '../tokens.js';
import {
  type Json,
  parseResetDuration,
  positiveInt,
  type StreamState,
  standardRetryAt,
  type WireFormat,
} from './wire.js';

const CALL = /\/models\/([^/:]+):(generateContent|streamGenerateContent)$/;

function usageOf(json: Json) {
  const u = json?.usageMetadata;
  if (!u || typeof u.promptTokenCount !== 'number') return undefined;
  return {
    inputTokens: u.promptTokenCount,
    outputTokens: (u.candidatesTokenCount ?? 0) + (u.thoughtsTokenCount ?? 0),
    cachedInputTokens: u.cachedContentTokenCount ?? 0,
  };
}

/** Gemini generateContent / streamGenerateContent (JSON and SSE; streamed usage is a running total). */
export const geminiWire: WireFormat = {
  provider: 'gemini',
  requestOf(url, body: Json) {
    const match = CALL.exec(url.pathname);
    if (!match) return undefined;
    return {
      model: decodeURIComponent(match[1] as string),
      texts: stringsOf([body?.systemInstruction, body?.contents, body?.tools]),
      maxOutputTokens: positiveInt(body?.generationConfig?.maxOutputTokens),
      stream: match[2] === 'streamGenerateContent',
    };
  },
  usageOf,
  onEvent(state: StreamState, _event, data: Json) {
    for (const candidate of Array.isArray(data?.candidates) ? data.candidates : []) {
      for (const part of Array.isArray(candidate?.content?.parts) ? candidate.content.parts : []) {
        if (typeof part?.text === 'string') state.outputChars += part.text.length;
      }
    }
    const usage = usageOf(data);
    if (usage) Object.assign(state, usage); // running totals: the last one wins
  },
  retryAt(headers, body, now) {
    const standard = standardRetryAt(headers, now);
    if (standard !== undefined) return standard;
    try {
      const details = JSON.parse(body)?.error?.details;
      for (const d of Array.isArray(details) ? details : []) {
        const ms = parseResetDuration(d?.retryDelay);
        if (ms !== undefined) return now + ms;
      }
    } catch {
      // not JSON: no instant
    }
    return undefined;
  },
};
