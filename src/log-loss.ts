/**
 * Probabilities are clipped to [LOG_LOSS_EPSILON, 1 − LOG_LOSS_EPSILON] for a log-loss, in
 * training's validation (src/training/validation.ts) as in evaluate's metrics
 * (src/evaluation/metrics.ts). Until session 42 validation clipped at 1e-7, so a confidently
 * wrong member read val_loss 13.40 in training and log-loss 25.00 in `evaluate`, on the same
 * rows in fp32.
 */
export const LOG_LOSS_EPSILON = 1e-15;
