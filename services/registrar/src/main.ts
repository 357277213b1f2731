import 'reflect-metadata';
import { runService } from '@splitlet/service';
import { spec } from './service';

void runService(spec);
