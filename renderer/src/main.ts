import { createPinia } from 'pinia';
import { createApp } from 'vue';
import MocoStudioApp from './components/MocoStudioApp.vue';
import './styles.css';

createApp(MocoStudioApp).use(createPinia()).mount('#app');
