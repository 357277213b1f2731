import { describeServiceLifecycle } from '@splitlet/testing';

describeServiceLifecycle('runtime-executor');
