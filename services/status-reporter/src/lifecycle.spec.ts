import { describeServiceLifecycle } from '@splitlet/testing';

describeServiceLifecycle('status-reporter');
