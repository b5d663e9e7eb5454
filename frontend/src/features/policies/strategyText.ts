/** A rollout strategy in a few words, for reading a policy at a glance. */
import type { Strategy } from '@/api/deployments'

/** Says the phrase `key` (of policies.detail) about the number `n`. */
export type Say = (key: string, n?: number) => string

export function strategyText(strategy: Strategy, say: Say): string {
  const parts: string[] = []
  if (strategy.batch_size) parts.push(say('batchCount', strategy.batch_size))
  if (strategy.batch_percent) parts.push(say('batchPercent', strategy.batch_percent))
  if (strategy.max_failures) parts.push(say('failuresCount', strategy.max_failures))
  if (strategy.max_failure_percent) parts.push(say('failuresPercent', strategy.max_failure_percent))
  if (strategy.pause_between_batches_seconds) parts.push(say('pause', strategy.pause_between_batches_seconds))
  if (strategy.canary) parts.push(say('canary'))
  if (strategy.require_approval) parts.push(say('approval'))
  return parts.length ? parts.join(' · ') : say('strategyDefault')
}
