/**
 * A member that cannot be trained as configured (unknown preset, an init checkpoint of another
 * network, a frozen layer that does not exist): running it again gives the same error, so a
 * queue fails its job at once instead of retrying it (services/queue).
 */
export class MemberConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MemberConfigError';
  }
}
