/** A correction as a client sends it to the server, checked into a store record. */
import { CORRECTION_VERSION, isDigit, type CorrectionRecord } from '../data/corrections.js';
import { assertNotBlank, InputError, PIXELS, readPixelArray, toBytes } from './image-input.js';
import { rejectUnknownKeys } from './predict-input.js';

/** What a client sends (the pad sends all three); the time and format version are the server's. */
const CORRECTION_KEYS = ['image', 'label', 'predicted'] as const;

/**
 * Checks a correction as a client sent it (`{image, label, predicted}`): image of 784 values
 * 0–255 or [0,1], label and predicted digits 0–9 (predicted may be null or absent); any other
 * key is a 400 naming it.
 */
export function parseCorrection(body: unknown, now = new Date()): CorrectionRecord {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InputError(400, 'a correction is a JSON object {image, label, predicted}', 'Send {"image": [784 values], "label": 0–9, "predicted": 0–9}.', 'bad_body');
  }
  // As /v1/predict does: an unknown key is refused, not dropped (a misspelt "predicted" would be lost in silence).
  rejectUnknownKeys(body as Record<string, unknown>, CORRECTION_KEYS, 'JSON');
  const { image, label, predicted } = body as Record<string, unknown>;
  if (!isDigit(label)) {
    throw new InputError(400, `label is ${JSON.stringify(label) ?? 'missing'}; it must be a whole number 0–9`, 'Give the digit the image really shows, e.g. "label": 7.', 'bad_label');
  }
  if (predicted !== undefined && predicted !== null && !isDigit(predicted)) {
    throw new InputError(400, `predicted is ${JSON.stringify(predicted)}; it must be a whole number 0–9 or null`, 'Send the label the ensemble predicted, or leave it out.', 'bad_label');
  }
  const pixels = new Float32Array(PIXELS);
  readPixelArray(image, pixels, 0, 'image');
  // A blank image teaches nothing as a training row (the pad refuses blank uploads too).
  assertNotBlank(pixels, 0, 'image', 'Send the image of the digit the label names.');
  return { v: CORRECTION_VERSION, time: now.toISOString(), label, predicted: (predicted as number | null | undefined) ?? null, image: toBytes(pixels) };
}
