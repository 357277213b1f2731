declare module 'spdy-transport';
declare module 'spdy-transport/lib/spdy-transport/protocol/spdy/dictionary.js';
