import { createPinia } from 'pinia'
import { createApp } from 'vue'

import { useTokenKeeper } from '@/api/client'
import App from '@/App.vue'
import { createConsoleI18n } from '@/i18n'
import { createConsoleRouter } from '@/router'
import { useAuthStore } from '@/stores/auth'

const app = createApp(App)
app.use(createPinia())
const auth = useAuthStore()
const router = createConsoleRouter({ loggedIn: () => auth.loggedIn, role: () => auth.user?.role ?? null })
useTokenKeeper(
  auth.tokenKeeper(() => {
    void router.replace({ name: 'login', query: { redirect: router.currentRoute.value.fullPath, expired: '1' } })
  }),
)
app.use(createConsoleI18n())
app.use(router)
app.mount('#app')
