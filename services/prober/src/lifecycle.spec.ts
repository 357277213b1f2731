import { describeServiceLifecycle } from '@splitlet/testing';

describeServiceLifecycle('prober');
