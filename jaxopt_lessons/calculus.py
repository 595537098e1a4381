"""placeholder"""
def derivative(f, x): raise NotImplementedError
def tangent_line(f, x0): raise NotImplementedError
def numerical_grad(f, params, *args, eps=None): raise NotImplementedError
def gradient_field(f, xs, ys): raise NotImplementedError
