declare module 'spdy-transport';
