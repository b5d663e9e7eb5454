/** One overview card's data: loaded on demand, its own loading state and error, late replies dropped. */
import { ref, type Ref } from 'vue'

import { errorMessage } from '@/api/client'

export function useCardData<T>(fetch: () => Promise<T>, networkError: () => string) {
  const data = ref(null) as Ref<T | null>
  const loading = ref(false)
  const failure = ref('')
  let generation = 0

  async function load(): Promise<void> {
    const mine = ++generation
    loading.value = true
    failure.value = ''
    try {
      const reply = await fetch()
      if (mine === generation) data.value = reply
    } catch (error) {
      if (mine === generation) failure.value = errorMessage(error) ?? networkError()
    } finally {
      if (mine === generation) loading.value = false
    }
  }

  return { data, loading, failure, load }
}
